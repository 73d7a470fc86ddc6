/**
 * JSON on the wire as Python writes it: integers of any size and floats as Python prints them
 * (`1.0` stays `1.0`), by way of `JSON.rawJSON`, which JSON.stringify (and so supabase-js) copies
 * into its output as is.
 */

import { floatRepr, type PyValue } from "./pyvalue.ts";

// JSON.rawJSON is in V8 (and so in Deno and the Supabase Edge Runtime) but not yet in
// TypeScript's lib.
const { rawJSON } = JSON as unknown as { rawJSON(text: string): unknown };

/** A bigint as a JSON number with all its digits. */
export function int(value: bigint): unknown {
  return rawJSON(value.toString());
}

/** A value ready for JSON.stringify that writes what Python's `json.dumps` writes for it. NaN and
 * Infinity have no JSON form PostgreSQL accepts: they raise, as the database would refuse them. */
export function wire(value: PyValue): unknown {
  if (typeof value === "bigint") return int(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new RangeError(`${floatRepr(value)} has no JSON form that PostgreSQL accepts`);
    }
    return rawJSON(floatRepr(value));
  }
  if (Array.isArray(value)) return value.map(wire);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, wire(v)]));
  return value;
}

/** JSON text of a reply body, bigints written in full. */
export function jsonText(body: unknown): string {
  return JSON.stringify(body, (_key, v) => typeof v === "bigint" ? int(v) : v);
}
