// Generated from the wire package by `python -m wire.js`: do not edit by hand.
// The protocol's names, bounds and recovery table (docs/protocol.md).

/** Everything that, with t0, defines a private stream, in the protocol's order. */
export const PRIVATE_FIELDS = ["startPrice", "mu", "sigma", "delta", "jumpRate", "jumpMean", "jumpStd", "v0", "kappa", "theta", "xi", "rho", "level", "interval", "seed", "periods"];

/** Each model's fields, in the protocol's order. */
export const MODEL_PARAMS = {"gbm": ["startPrice", "mu", "sigma", "delta"], "merton": ["startPrice", "mu", "sigma", "delta", "jumpRate", "jumpMean", "jumpStd"], "heston": ["startPrice", "mu", "delta", "v0", "kappa", "theta", "xi", "rho"], "ou": ["startPrice", "sigma", "delta", "kappa", "level"]};

/** Fields that carry integers. */
export const INTEGER_FIELDS = ["seed", "periods", "history", "fromSeq"];

/** What a private stream uses for a field it leaves out. */
export const STREAM_DEFAULTS = {"startPrice": 70.0, "mu": 0.05, "sigma": 0.3, "delta": 1.0, "interval": 1.0, "jumpRate": 5.0, "jumpMean": -0.03, "jumpStd": 0.08, "v0": 0.09, "kappa": 2.0, "theta": 0.09, "xi": 0.5, "rho": -0.7};

/** The most history a subscribe may ask for (a server may allow less). */
export const HISTORY_MAX = 10000;

/** The largest seed, as decimal text (beyond a JavaScript number's exact range). */
export const SEED_MAX = "18446744073709551615";

/** The stable codes of an error event. */
export const ERROR_CODES = ["bad_json", "bad_request", "invalid_params", "unknown_symbol", "unknown_subscription", "limit_exceeded", "rate_limited"];

/** WebSocket close codes of the server. */
export const CLOSE_CODES = {"NORMAL": 1000, "GOING_AWAY": 1001, "ABNORMAL": 1006, "INVALID_DATA": 1007, "POLICY": 1008, "TOO_BIG": 1009, "INTERNAL": 1011, "SLOW_CONSUMER": 4008};

/** In a recovery rule's field: whatever field the error names. */
export const ANY = "*";

/** What a client does about a refused subscribe. */
export const ACTION = {"RETRY": "retry", "SKIP_GAP": "skip_gap", "RESTART": "restart", "FAIL": "fail"};

/** The recovery table; no matching row means ACTION.FAIL. */
export const RECOVERY = [
  {
    "when": "any",
    "code": "rate_limited",
    "field": "*",
    "action": "retry"
  },
  {
    "when": "resume",
    "code": "invalid_params",
    "field": "fromSeq",
    "action": "retry"
  },
  {
    "when": "resume",
    "code": "limit_exceeded",
    "field": "fromSeq",
    "action": "skip_gap"
  },
  {
    "when": "resume",
    "code": "invalid_params",
    "field": "t0",
    "action": "restart"
  },
  {
    "when": "resume",
    "code": "limit_exceeded",
    "field": "t0",
    "action": "restart"
  }
];


/** What to do about an `error` answering a subscribe (the first matching row decides). */
export function recover(code, field, resuming) {
  for (const rule of RECOVERY) {
    if (rule.code === code && (rule.field === ANY || rule.field === field) &&
        (rule.when === "any" || (rule.when === "resume") === resuming)) return rule.action;
  }
  return ACTION.FAIL;
}
