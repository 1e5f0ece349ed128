"""The wire package's names, bounds and recovery table as a JavaScript module, for the
dashboard: ``python -m wire.js > clients/dashboard/wire.js``. The file is generated, never
edited; a test holds the one in the tree equal to :func:`render`, and another runs the
module's ``recover`` against :func:`wire.recovery.recover` on every case of the table.
"""

from __future__ import annotations

import json
import sys

from wire import names, recovery

HEADER = ("// Generated from the wire package by `python -m wire.js`: do not edit by hand.\n"
          "// The protocol's names, bounds and recovery table (docs/protocol.md).\n")

_RECOVER = """
/** What to do about an `error` answering a subscribe (the first matching row decides). */
export function recover(code, field, resuming) {
  for (const rule of RECOVERY) {
    if (rule.code === code && (rule.field === ANY || rule.field === field) &&
        (rule.when === "any" || (rule.when === "resume") === resuming)) return rule.action;
  }
  return ACTION.FAIL;
}
"""


def _const(name: str, value: object, doc: str) -> str:
    rows = isinstance(value, list) and value and isinstance(value[0], dict)
    text = json.dumps(value, indent=2) if rows else json.dumps(value)
    return f"/** {doc} */\nexport const {name} = {text};\n"


def render() -> str:
    """The text of ``wire.js``."""
    parts = [
        HEADER,
        _const("PRIVATE_FIELDS", list(names.PRIVATE_FIELDS),
               "Everything that, with t0, defines a private stream, in the protocol's order."),
        _const("MODEL_PARAMS", {m: list(f) for m, f in names.MODEL_PARAMS.items()},
               "Each model's fields, in the protocol's order."),
        _const("INTEGER_FIELDS", list(names.INTEGER_FIELDS), "Fields that carry integers."),
        _const("STREAM_DEFAULTS", names.STREAM_DEFAULTS,
               "What a private stream uses for a field it leaves out."),
        _const("HISTORY_MAX", names.HISTORY_MAX,
               "The most history a subscribe may ask for (a server may allow less)."),
        _const("SEED_MAX", str(names.SEED_MAX),
               "The largest seed, as decimal text (beyond a JavaScript number's exact range)."),
        _const("ERROR_CODES", [code.value for code in names.ErrorCode],
               "The stable codes of an error event."),
        _const("CLOSE_CODES", {code.name: code.value for code in names.CloseCode},
               "WebSocket close codes of the server."),
        _const("ANY", recovery.ANY, "In a recovery rule's field: whatever field the error names."),
        _const("ACTION", {action.name: action.value for action in recovery.Action},
               "What a client does about a refused subscribe."),
        _const("RECOVERY", [{"when": rule.when.value, "code": rule.code.value,
                             "field": rule.field, "action": rule.action.value}
                            for rule in recovery.TABLE],
               "The recovery table; no matching row means ACTION.FAIL."),
        _RECOVER,
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
