/**
 * Bytes to text as `json.loads(b)` does it in Python: the encoding guessed by
 * `json.detect_encoding`, decoded with the `surrogatepass` error handler, and Python's
 * UnicodeDecodeError texts when that fails. The text is a list of code points, so that positions
 * in error messages count characters the way Python's `str` does.
 */

import { PyException } from "./pyvalue.ts";

type Encoding = "utf-8" | "utf-8-sig" | "utf-16" | "utf-16-le" | "utf-16-be" | "utf-32";

/** `json.detect_encoding(b)` */
function detectEncoding(b: Uint8Array): Encoding | "utf-32-le" | "utf-32-be" {
  const starts = (...prefix: number[]) => prefix.every((x, i) => b[i] === x);
  if (starts(0x00, 0x00, 0xfe, 0xff) || starts(0xff, 0xfe, 0x00, 0x00)) return "utf-32";
  if (starts(0xfe, 0xff) || starts(0xff, 0xfe)) return "utf-16";
  if (starts(0xef, 0xbb, 0xbf)) return "utf-8-sig";
  if (b.length >= 4) {
    if (!b[0]) return b[1] ? "utf-16-be" : "utf-32-be";
    if (!b[1]) return b[2] || b[3] ? "utf-16-le" : "utf-32-le";
  } else if (b.length === 2) {
    if (!b[0]) return "utf-16-be";
    if (!b[1]) return "utf-16-le";
  }
  return "utf-8";
}

function decodeError(
  encoding: string,
  b: Uint8Array,
  start: number,
  end: number,
  reason: string,
): PyException {
  const what = end - start === 1
    ? `byte 0x${b[start].toString(16).padStart(2, "0")} in position ${start}`
    : `bytes in position ${start}-${end - 1}`;
  return new PyException(
    "UnicodeDecodeError",
    `'${encoding}' codec can't decode ${what}: ${reason}`,
  );
}

/** The text of a JSON document given as bytes, as code points. */
export function decodeJsonBytes(b: Uint8Array): number[] {
  const encoding = detectEncoding(b);
  switch (encoding) {
    case "utf-8":
      return utf8(b);
    case "utf-8-sig": // the codec strips the BOM first, so positions count from after it
      return utf8(b.subarray(3));
    case "utf-16":
      return utf16(b, b[0] === 0xff, 2);
    case "utf-16-le":
    case "utf-16-be":
      return utf16(b, encoding === "utf-16-le", 0);
    case "utf-32":
      return utf32(b, b[0] === 0xff, 4);
    default:
      return utf32(b, encoding === "utf-32-le", 0);
  }
}

const isContinuation = (x: number | undefined) => x !== undefined && (x & 0xc0) === 0x80;

/** CPython's UTF-8 decoder with `surrogatepass`: an encoded surrogate (ED A0..BF xx) is let
 * through; every other error keeps CPython's reason and byte range. */
function utf8(b: Uint8Array): number[] {
  const out: number[] = [];
  let i = 0;
  const fail = (end: number, reason: string) => decodeError("utf-8", b, i, end, reason);
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      out.push(c);
      i++;
      continue;
    }
    if (c < 0xc2 || c > 0xf4) throw fail(i + 1, "invalid start byte");
    const need = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    const c2 = b[i + 1];
    if (c === 0xed && c2 !== undefined && c2 >= 0xa0 && c2 <= 0xbf && isContinuation(b[i + 2])) {
      out.push(0xd000 | ((c2 & 0x3f) << 6) | (b[i + 2] & 0x3f)); // surrogatepass
      i += 3;
      continue;
    }
    if (c2 === undefined) throw fail(b.length, "unexpected end of data");
    const badSecond = !isContinuation(c2) ||
      (c === 0xe0 && c2 < 0xa0) || (c === 0xed && c2 >= 0xa0) ||
      (c === 0xf0 && c2 < 0x90) || (c === 0xf4 && c2 >= 0x90);
    if (badSecond) throw fail(i + 1, "invalid continuation byte");
    if (need === 2) {
      out.push(((c & 0x1f) << 6) | (c2 & 0x3f));
      i += 2;
      continue;
    }
    const c3 = b[i + 2];
    if (c3 === undefined) throw fail(b.length, "unexpected end of data");
    if (!isContinuation(c3)) throw fail(i + 2, "invalid continuation byte");
    if (need === 3) {
      out.push(((c & 0x0f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f));
      i += 3;
      continue;
    }
    const c4 = b[i + 3];
    if (c4 === undefined) throw fail(b.length, "unexpected end of data");
    if (!isContinuation(c4)) throw fail(i + 3, "invalid continuation byte");
    out.push(((c & 0x07) << 18) | ((c2 & 0x3f) << 12) | ((c3 & 0x3f) << 6) | (c4 & 0x3f));
    i += 4;
  }
  return out;
}

/** UTF-16 with `surrogatepass`: a lone surrogate is kept; a trailing odd byte is an error. */
function utf16(b: Uint8Array, little: boolean, start: number): number[] {
  const out: number[] = [];
  const unit = (i: number) => little ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1];
  let i = start;
  while (i < b.length) {
    if (b.length - i < 2) {
      throw decodeError(`utf-16-${little ? "le" : "be"}`, b, i, b.length, "truncated data");
    }
    const u = unit(i);
    i += 2;
    if (u >= 0xd800 && u < 0xdc00 && b.length - i >= 2) {
      const low = unit(i);
      if (low >= 0xdc00 && low < 0xe000) {
        out.push(0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00));
        i += 2;
        continue;
      }
    }
    out.push(u);
  }
  return out;
}

/** UTF-32 with `surrogatepass`. */
function utf32(b: Uint8Array, little: boolean, start: number): number[] {
  const out: number[] = [];
  const encoding = `utf-32-${little ? "le" : "be"}`;
  for (let i = start; i < b.length; i += 4) {
    if (b.length - i < 4) throw decodeError(encoding, b, i, b.length, "truncated data");
    const bytes = little
      ? [b[i + 3], b[i + 2], b[i + 1], b[i]]
      : [b[i], b[i + 1], b[i + 2], b[i + 3]];
    const code = bytes.reduce((acc, x) => acc * 256 + x, 0);
    if (code > 0x10ffff) {
      throw decodeError(encoding, b, i, i + 4, "code point not in range(0x110000)");
    }
    out.push(code);
  }
  return out;
}
