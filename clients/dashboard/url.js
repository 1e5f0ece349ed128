// What the address bar says the page shows, so a link opens a dashboard already watching it:
//
//   /?symbols=ACME,BOLT                      charts of these market symbols
//   &stream=interval:0.02,sigma:0.5,seed:42  a private stream (repeatable; any subscribe field
//                                            of the form: model, the model's fields, interval,
//                                            seed, periods)
//   &window=60                               seconds of history the charts show
//   &token=...                               passed on to the WebSocket (access control)

import { PRIVATE_FIELDS } from "./wire.js";

export const WINDOWS = [10, 60, 300];
export const DEFAULT_WINDOW = 60;

/** {symbols: string[], streams: object[] (field -> text), window: number} */
export function readUrl(search) {
  const query = new URLSearchParams(search);
  const symbols = query.getAll("symbols").flatMap((s) => s.split(","))
    .map((s) => s.trim().toUpperCase()).filter(Boolean);
  const streams = query.getAll("stream").map((text) => {
    const fields = {};
    for (const pair of text.split(",")) {
      const [name, value] = pair.split(":");
      if ((name === "model" || PRIVATE_FIELDS.includes(name)) && value !== undefined) {
        fields[name] = value;
      }
    }
    return fields;
  });
  const window = Number(query.get("window"));
  return {
    symbols: [...new Set(symbols)], streams,
    window: WINDOWS.includes(window) ? window : DEFAULT_WINDOW,
  };
}

/** The page's search string for what it shows now (keeps a token it was given). */
export function writeUrl(search, { symbols, streams, window }) {
  const old = new URLSearchParams(search);
  const query = new URLSearchParams();
  if (symbols.length) query.set("symbols", symbols.join(","));
  for (const fields of streams) {
    query.append("stream", Object.entries(fields).map(([k, v]) => `${k}:${v}`).join(","));
  }
  if (window !== DEFAULT_WINDOW) query.set("window", String(window));
  if (old.has("token")) query.set("token", old.get("token"));
  const text = query.toString().replaceAll("%2C", ",").replaceAll("%3A", ":");
  return text ? `?${text}` : "";
}
