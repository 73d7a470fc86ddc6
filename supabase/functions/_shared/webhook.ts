/**
 * Reads the id of the row a Database Webhook fired for, refusing any body that is not one: the
 * port of threadsync/webhook.py, with the same rules and the same error texts.
 */

import { loads } from "./pyjson.ts";
import { get, PyException, type PyValue, repr, strRepr, typeName } from "./pyvalue.ts";

export const MAX_ROW_ID = 2n ** 63n - 1n; // row ids are PostgreSQL bigint
const SHOWN = 80; // characters of an offending value quoted back in an error

/** The body is not a Database Webhook for the expected table; the message says what is wrong. */
export class BadWebhook extends Error {
  override name = "BadWebhook";
}

/** The `record.id` of an INSERT webhook on `table`, or BadWebhook naming the first problem. */
export function rowId(body: Uint8Array, table: string): bigint {
  let payload: PyValue;
  try {
    payload = loads(body);
  } catch (e) {
    if (e instanceof PyException && e.pyType === "RecursionError") {
      throw new BadWebhook("body is JSON nested too deeply to be a webhook");
    }
    if (e instanceof PyException && e.isValueError) {
      // Malformed JSON, bytes that are not text, integers too long to parse.
      throw new BadWebhook(`body is not JSON (${short(e.message)})`);
    }
    throw e;
  }
  if (!(payload instanceof Map)) {
    throw new BadWebhook(`body must be a JSON object, got ${typeName(payload)}`);
  }
  const kind = get(payload, "type");
  if (kind !== "INSERT") {
    throw new BadWebhook(`expected a webhook of type 'INSERT', got type ${short(kind)}`);
  }
  const gotTable = get(payload, "table");
  if (gotTable !== table) {
    throw new BadWebhook(
      `expected a webhook for table ${strRepr(table)}, got table ${short(gotTable)}`,
    );
  }
  if (!payload.has("record")) throw new BadWebhook("body has no 'record'");
  const record = get(payload, "record");
  if (!(record instanceof Map)) {
    throw new BadWebhook(`'record' must be an object, got ${typeName(record)}`);
  }
  if (!record.has("id")) throw new BadWebhook("'record' has no 'id'");
  const ident = get(record, "id");
  // true is no row id, and a float (1.0) is not an integer, as in Python.
  if (typeof ident !== "bigint" || ident < 1n || ident > MAX_ROW_ID) {
    throw new BadWebhook(
      `'record.id' must be a positive integer up to ${MAX_ROW_ID} (a bigint row id), ` +
        `got ${short(ident)}`,
    );
  }
  return ident;
}

/** `repr(value)` for a scalar, cut short; a container is named, never printed. */
function short(value: PyValue): string {
  if (value instanceof Map) return "a JSON object";
  if (Array.isArray(value)) return "a JSON array";
  if (typeof value === "bigint") {
    const magnitude = value < 0n ? -value : value;
    if (magnitude >= 2n ** 200n) return `an integer of ${magnitude.toString().length} digits`;
  }
  const shown = [...repr(value)]; // Python cuts characters (code points), not UTF-16 units
  return shown.length <= SHOWN ? shown.join("") : shown.slice(0, SHOWN - 3).join("") + "...";
}
