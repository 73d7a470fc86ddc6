/**
 * The processing itself, ported from threadsync/processor.py: `summarise` builds the row `threads`
 * keeps for one source thread, and `contentHash` is its digest, byte for byte Python's
 * `sha256(json.dumps(thread, sort_keys=True, separators=(",", ":")).encode()).hexdigest()`.
 */

import { dumps } from "./pyjson.ts";
import {
  get,
  type PyDict,
  PyException,
  type PyValue,
  repr,
  sorted,
  str,
  truthy,
  typeName,
} from "./pyvalue.ts";

/** A digest of a thread's content, so a check can tell the latest version from an older one. */
export async function contentHash(thread: PyValue): Promise<string> {
  const canonical = dumps(thread, { sortKeys: true, separators: [",", ":"] });
  // ensure_ascii made it ASCII, so its UTF-8 bytes are its characters.
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The row `threads` keeps for one source thread; PyException (ValueError, KeyError, TypeError)
 * with Python's text where the Python function raises. */
export async function summarise(thread: PyDict): Promise<PyDict> {
  const messages = get(thread, "messages");
  const list = truthy(messages) ? messages : [];
  if (!Array.isArray(list)) {
    throw new PyException(
      "ValueError",
      `thread ${repr(get(thread, "id"))}: 'messages' must be a list`,
    );
  }
  const sent = sorted(
    list.filter((m) => m instanceof Map && truthy(get(m, "sent_at")))
      .map((m) => str(get(m as PyDict, "sent_at"))),
  );
  const subject = get(thread, "subject");
  if (typeof subject !== "string") {
    throw new PyException("ValueError", `thread ${repr(get(thread, "id"))} has no subject`);
  }
  if (!thread.has("id")) throw new PyException("KeyError", "'id'");
  return new Map<string, PyValue>([
    ["external_id", get(thread, "id")],
    ["subject", subject],
    ["participants", sorted(iterate(get(thread, "participants")))],
    ["message_count", BigInt(list.length)],
    ["last_message_at", sent.length ? sent[sent.length - 1] : null],
    ["source_updated_at", get(thread, "updated_at")],
    ["content_hash", await contentHash(thread)],
  ]);
}

/** `list(value or [])`: a list's items, a string's characters, an object's keys. */
function iterate(value: PyValue): PyValue[] {
  if (!truthy(value)) return [];
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return [...value];
  if (value instanceof Map) return [...value.keys()];
  throw new PyException("TypeError", `'${typeName(value)}' object is not iterable`);
}
