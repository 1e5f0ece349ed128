"""The recovery table (wire/recovery.py): what a client does about each refused subscribe."""

from __future__ import annotations

import pytest

from wire.names import ErrorCode
from wire.recovery import ANY, TABLE, Action, When, recover


@pytest.mark.parametrize(("code", "field", "resuming", "action"), [
    ("rate_limited", None, False, Action.RETRY),
    ("rate_limited", "t0", True, Action.RETRY),  # a resume's catch-up charged to the bucket
    ("invalid_params", "fromSeq", True, Action.RETRY),
    ("invalid_params", "fromSeq", False, Action.FAIL),  # the application's own fromSeq
    ("limit_exceeded", "fromSeq", True, Action.SKIP_GAP),
    ("limit_exceeded", "fromSeq", False, Action.FAIL),
    ("invalid_params", "t0", True, Action.RESTART),
    ("limit_exceeded", "t0", True, Action.RESTART),
    ("invalid_params", "t0", False, Action.FAIL),
    ("invalid_params", "sigma", True, Action.FAIL),
    ("unknown_symbol", "symbol", True, Action.FAIL),
    ("limit_exceeded", None, True, Action.FAIL),  # too many subscriptions: retrying won't help
    ("bad_request", "op", False, Action.FAIL),
])
def test_each_refusal_has_its_action(code, field, resuming, action):
    assert recover(code, field, resuming) == action


def test_every_row_of_the_table_is_reachable_and_says_why():
    for rule in TABLE:
        field = None if rule.field == ANY else rule.field
        resuming = rule.when != When.FIRST
        assert recover(rule.code, field, resuming) == rule.action, rule
        assert rule.why and rule.code in ErrorCode
