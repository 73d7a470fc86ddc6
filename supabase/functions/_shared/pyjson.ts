/**
 * Python's `json.loads` and `json.dumps`, for the port: the same values (int and float kept apart,
 * integers of any size, NaN and Infinity), the same error texts, and byte-identical output.
 *
 * `loads` follows CPython's C scanner (Modules/_json.c) as of Python 3.11 and 3.12, error for
 * error, so that a webhook handler quotes the same message back. Python 3.13 added one message,
 * "Illegal trailing comma before end of object/array"; 3.11 and 3.12 say "Expecting value" or
 * "Expecting property name enclosed in double quotes" there, as this does.
 */

import { decodeJsonBytes } from "./pycodecs.ts";
import { compareStrings, floatRepr, PyException, type PyValue } from "./pyvalue.ts";

/** Nesting deeper than this is a RecursionError, as in threadsync/pyjson.py, which puts the same
 * limit on Python's own json (whose limit moves with the version and the caller's stack: about
 * 1,000 levels on 3.11, more than 5,000 on 3.13). A webhook is 2 deep. */
export const MAX_DEPTH = 500;

/** Python's int-to-str conversion limit (`sys.get_int_max_str_digits()`, default 4300). */
const MAX_INT_DIGITS = 4300;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isWhitespace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/** A JSONDecodeError: `msg: line L column C (char P)`, positions counted in characters. */
function decodeError(msg: string, doc: number[], pos: number): PyException {
  let line = 1;
  let lastNewline = -1;
  for (let i = 0; i < pos; i++) {
    if (doc[i] === 0x0a) {
      line++;
      lastNewline = i;
    }
  }
  return new PyException(
    "JSONDecodeError",
    `${msg}: line ${line} column ${pos - lastNewline} (char ${pos})`,
  );
}

function fromCodePoints(codes: number[], start: number, end: number): string {
  let out = "";
  for (let i = start; i < end; i += 4096) {
    out += String.fromCodePoint(...codes.slice(i, Math.min(end, i + 4096)));
  }
  return out;
}

class Scanner {
  private depth = 0;

  constructor(private readonly s: number[]) {}

  /** One value starting at `idx`, and the index after it. */
  value(idx: number): [PyValue, number] {
    const s = this.s;
    const c = s[idx];
    const word = (text: string) => [...text].every((ch, k) => s[idx + k] === ch.charCodeAt(0));
    switch (c) {
      case undefined:
        throw decodeError("Expecting value", s, idx);
      case QUOTE:
        return this.string(idx + 1);
      case 0x7b: // {
        return this.nested(() => this.object(idx + 1));
      case 0x5b: // [
        return this.nested(() => this.array(idx + 1));
      case 0x6e: // n
        if (word("null")) return [null, idx + 4];
        break;
      case 0x74: // t
        if (word("true")) return [true, idx + 4];
        break;
      case 0x66: // f
        if (word("false")) return [false, idx + 5];
        break;
      case 0x4e: // N
        if (word("NaN")) return [NaN, idx + 3];
        break;
      case 0x49: // I
        if (word("Infinity")) return [Infinity, idx + 8];
        break;
      case 0x2d: // -
        if (word("-Infinity")) return [-Infinity, idx + 9];
        break;
    }
    return this.number(idx);
  }

  private nested(parse: () => [PyValue, number]): [PyValue, number] {
    if (this.depth >= MAX_DEPTH) {
      throw new PyException(
        "RecursionError",
        "maximum recursion depth exceeded while decoding a JSON document",
      );
    }
    this.depth++;
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private skip(idx: number): number {
    while (idx < this.s.length && isWhitespace(this.s[idx])) idx++;
    return idx;
  }

  private number(start: number): [PyValue, number] {
    const s = this.s;
    let idx = start;
    if (s[idx] === 0x2d) idx++;
    if (s[idx] !== undefined && s[idx] >= 0x31 && s[idx] <= 0x39) {
      idx++;
      while (isDigit(s[idx])) idx++;
    } else if (s[idx] === 0x30) {
      idx++;
    } else {
      throw decodeError("Expecting value", s, start);
    }
    let isFloat = false;
    if (s[idx] === 0x2e && isDigit(s[idx + 1])) {
      isFloat = true;
      idx += 2;
      while (isDigit(s[idx])) idx++;
    }
    // An exponent needs a character after the e, and a digit, or the e is not read at all.
    if ((s[idx] === 0x65 || s[idx] === 0x45) && idx < s.length - 1) {
      const eStart = idx;
      idx++;
      if ((s[idx] === 0x2d || s[idx] === 0x2b) && idx < s.length - 1) idx++;
      while (isDigit(s[idx])) idx++;
      if (isDigit(s[idx - 1])) isFloat = true;
      else idx = eStart;
    }
    const text = fromCodePoints(s, start, idx);
    if (isFloat) return [Number(text), idx];
    const digits = text.length - (text.startsWith("-") ? 1 : 0);
    if (digits > MAX_INT_DIGITS) {
      throw new PyException(
        "ValueError",
        `Exceeds the limit (${MAX_INT_DIGITS} digits) for integer string conversion: ` +
          `value has ${digits} digits; use sys.set_int_max_str_digits() to increase the limit`,
      );
    }
    return [BigInt(text), idx];
  }

  /** A string whose opening quote is just before `end`. */
  private string(end: number): [string, number] {
    const s = this.s;
    const begin = end - 1;
    const chunks: string[] = [];
    for (;;) {
      let next = end;
      while (next < s.length && s[next] !== QUOTE && s[next] !== BACKSLASH) {
        if (s[next] <= 0x1f) throw decodeError("Invalid control character at", s, next);
        next++;
      }
      if (next >= s.length) throw decodeError("Unterminated string starting at", s, begin);
      chunks.push(fromCodePoints(s, end, next));
      if (s[next] === QUOTE) return [chunks.join(""), next + 1];
      next++; // past the backslash
      if (next === s.length) throw decodeError("Unterminated string starting at", s, begin);
      const esc = s[next];
      if (esc !== 0x75) { // not \u
        const simple: Record<number, string> = {
          0x22: '"',
          0x5c: "\\",
          0x2f: "/",
          0x62: "\b",
          0x66: "\f",
          0x6e: "\n",
          0x72: "\r",
          0x74: "\t",
        };
        if (!(esc in simple)) throw decodeError("Invalid \\escape", s, next - 1);
        chunks.push(simple[esc]);
        end = next + 1;
        continue;
      }
      next++;
      end = next + 4;
      if (end >= s.length) throw decodeError("Invalid \\uXXXX escape", s, next - 1);
      let code = this.hex4(next, end);
      // A high surrogate escape followed by a low one is one character.
      if (
        code >= 0xd800 && code < 0xdc00 && end + 6 < s.length && s[end] === BACKSLASH &&
        s[end + 1] === 0x75
      ) {
        const low = this.hex4(end + 2, end + 6);
        if (low >= 0xdc00 && low < 0xe000) {
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          end += 6;
        }
      }
      chunks.push(String.fromCodePoint(code));
    }
  }

  private hex4(start: number, end: number): number {
    let code = 0;
    for (let i = start; i < end; i++) {
      const digit = parseInt(String.fromCodePoint(this.s[i]), 16);
      if (Number.isNaN(digit)) throw decodeError("Invalid \\uXXXX escape", this.s, end - 5);
      code = code * 16 + digit;
    }
    return code;
  }

  private object(start: number): [PyValue, number] {
    const s = this.s;
    const out = new Map<string, PyValue>();
    let idx = this.skip(start);
    if (s[idx] === 0x7d) return [out, idx + 1];
    for (;;) {
      if (s[idx] !== QUOTE) {
        throw decodeError("Expecting property name enclosed in double quotes", s, idx);
      }
      const [key, afterKey] = this.string(idx + 1);
      idx = this.skip(afterKey);
      if (s[idx] !== 0x3a) throw decodeError("Expecting ':' delimiter", s, idx);
      const [value, afterValue] = this.value(this.skip(idx + 1));
      out.set(key, value); // a repeated key keeps its first place and its last value, as dict()
      idx = this.skip(afterValue);
      if (s[idx] === 0x7d) return [out, idx + 1];
      if (s[idx] !== 0x2c) throw decodeError("Expecting ',' delimiter", s, idx);
      idx = this.skip(idx + 1);
    }
  }

  private array(start: number): [PyValue, number] {
    const s = this.s;
    const out: PyValue[] = [];
    let idx = this.skip(start);
    if (s[idx] === 0x5d) return [out, idx + 1];
    for (;;) {
      const [value, afterValue] = this.value(idx);
      out.push(value);
      idx = this.skip(afterValue);
      if (s[idx] === 0x5d) return [out, idx + 1];
      if (s[idx] !== 0x2c) throw decodeError("Expecting ',' delimiter", s, idx);
      idx = this.skip(idx + 1);
    }
  }

  /** `JSONDecoder.decode`: one value, with only whitespace around it. */
  document(): PyValue {
    const [value, end] = this.value(this.skip(0));
    const after = this.skip(end);
    if (after !== this.s.length) throw decodeError("Extra data", this.s, after);
    return value;
  }
}

/** `json.loads(body)` for a body of bytes; raises PyException as Python would raise. */
export function loads(body: Uint8Array): PyValue {
  return new Scanner(decodeJsonBytes(body)).document();
}

/** `json.dumps(value, sort_keys=..., separators=...)` with its defaults otherwise: ensure_ascii,
 * and NaN and Infinity written as JavaScript literals. */
export function dumps(
  value: PyValue,
  { sortKeys = false, separators = [", ", ": "] }: {
    sortKeys?: boolean;
    separators?: [string, string];
  } = {},
): string {
  const [item, key] = separators;
  const encode = (v: PyValue): string => {
    if (v === null) return "null";
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "number") {
      if (Number.isNaN(v)) return "NaN";
      if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
      return floatRepr(v);
    }
    if (typeof v === "string") return asciiString(v);
    if (Array.isArray(v)) return `[${v.map(encode).join(item)}]`;
    const entries = [...v];
    if (sortKeys) entries.sort(([a], [b]) => compareStrings(a, b));
    return `{${entries.map(([k, x]) => `${asciiString(k)}${key}${encode(x)}`).join(item)}}`;
  };
  return encode(value);
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/** A JSON string with every character outside printable ASCII escaped, as `ensure_ascii` does:
 * lower-case hex, and a character beyond U+FFFF as its UTF-16 surrogate pair. */
function asciiString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const unit = s.charCodeAt(i);
    if (ch in SHORT_ESCAPES) out += SHORT_ESCAPES[ch];
    else if (unit >= 0x20 && unit < 0x7f) out += ch;
    else out += `\\u${unit.toString(16).padStart(4, "0")}`;
  }
  return out + '"';
}
