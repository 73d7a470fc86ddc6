/**
 * JSON values as Python's `json.loads` builds them, and the Python behaviour the handlers rely on
 * (`repr`, `str`, truthiness, `<` and `sorted`), so that the TypeScript port answers with the same
 * texts and the same results as threadsync's Python handlers.
 *
 * A Python `int` is a `bigint` here and a Python `float` a `number`: JSON `1` and `1.0` stay
 * different values, as they are in Python, and integers of any size survive. An object is a `Map`,
 * which keeps Python's key order (a plain object would move integer-like keys first).
 */

export type PyValue = null | boolean | bigint | number | string | PyValue[] | PyDict;
export type PyDict = Map<string, PyValue>;

/** A Python exception: `pyType` is its class name and `message` its `str()`. */
export class PyException extends Error {
  constructor(readonly pyType: string, message: string) {
    super(message);
    this.name = pyType;
  }

  /** Whether Python would catch it with `except ValueError` (its subclasses included). */
  get isValueError(): boolean {
    return ["ValueError", "UnicodeDecodeError", "JSONDecodeError"].includes(this.pyType);
  }
}

/** `d.get(key)`: the value, or None when the key is missing. */
export function get(d: PyDict, key: string): PyValue {
  const value = d.get(key);
  return value === undefined ? null : value;
}

/** `type(v).__name__` */
export function typeName(v: PyValue): string {
  if (v === null) return "NoneType";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "bigint") return "int";
  if (typeof v === "number") return "float";
  if (typeof v === "string") return "str";
  return Array.isArray(v) ? "list" : "dict";
}

/** `bool(v)` */
export function truthy(v: PyValue): boolean {
  if (v === null) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "bigint") return v !== 0n;
  if (typeof v === "number") return v !== 0; // NaN is true, -0.0 false, as in Python
  if (typeof v === "string") return v.length > 0;
  return Array.isArray(v) ? v.length > 0 : v.size > 0;
}

/** `repr(x)` of a float: the shortest digits that read back as `x` (the same digits as
 * JavaScript's), laid out as Python does: exponent form below 1e-4 and from 1e16 up. */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa, exponent] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const point = Number(exponent) + 1; // x = 0.<digits> * 10**point
  if (point <= -4 || point > 16) {
    const e = point - 1;
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

// Python's str.isprintable(): false for categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs (but space).
const NOT_PRINTABLE = /^[\p{C}\p{Z}]$/u;

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, "0");
}

/** `repr(s)` of a str. */
export function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`;
    else if (code < 0x7f || !NOT_PRINTABLE.test(ch)) out += ch;
    else if (code <= 0xff) out += `\\x${hex(code, 2)}`;
    else if (code <= 0xffff) out += `\\u${hex(code, 4)}`;
    else out += `\\U${hex(code, 8)}`;
  }
  return out + quote;
}

/** `repr(v)` */
export function repr(v: PyValue): string {
  if (v === null) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return floatRepr(v);
  if (typeof v === "string") return strRepr(v);
  if (Array.isArray(v)) return `[${v.map(repr).join(", ")}]`;
  return `{${[...v].map(([k, x]) => `${strRepr(k)}: ${repr(x)}`).join(", ")}}`;
}

/** `str(v)` */
export function str(v: PyValue): string {
  return typeof v === "string" ? v : repr(v);
}

/** Compares two strings by code point, as Python does (JavaScript's `<` compares UTF-16 units,
 * which puts U+FFFF after U+10000). */
export function compareStrings(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x < y ? -1 : 1;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return (a.length - i) - (b.length - j);
}

function isNumber(v: PyValue): v is boolean | bigint | number {
  return typeof v === "boolean" || typeof v === "bigint" || typeof v === "number";
}

function numeric(v: boolean | bigint | number): bigint | number {
  return typeof v === "boolean" ? BigInt(v) : v;
}

/** `a == b`, with the identity shortcut of Python's container comparisons: every NaN that
 * `json.loads` makes is the one `json.decoder.NaN` object, so it equals itself there. */
export function equal(a: PyValue, b: PyValue): boolean {
  if (isNumber(a) && isNumber(b)) {
    const x = numeric(a);
    const y = numeric(b);
    if (typeof x === "number" && typeof y === "number" && Number.isNaN(x) && Number.isNaN(y)) {
      return true;
    }
    return x == y; // bigint == number compares the exact values
  }
  if (typeof a === "string" || typeof b === "string" || a === null || b === null) return a === b;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, x] of a) {
      if (!b.has(k) || !equal(x, b.get(k)!)) return false;
    }
    return true;
  }
  return false;
}

/** `a < b`, or the TypeError Python raises for types that do not order. */
export function lessThan(a: PyValue, b: PyValue): boolean {
  if (isNumber(a) && isNumber(b)) return numeric(a) < numeric(b);
  if (typeof a === "string" && typeof b === "string") return compareStrings(a, b) < 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (!equal(a[i], b[i])) return lessThan(a[i], b[i]);
    }
    return a.length < b.length;
  }
  throw new PyException(
    "TypeError",
    `'<' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`,
  );
}

// CPython's list.sort sorts a list shorter than this with one binary insertion sort.
const MIN_MERGE = 64;

/** `sorted(items)`: CPython's comparisons in CPython's order for lists shorter than 64 items
 * (its count_run then binarysort, as of 3.11 and 3.12), so that the result, even with NaN in it,
 * and the TypeError of a list mixing types are Python's. A longer list is merge-sorted: the same
 * result wherever the items have a consistent order. */
export function sorted<T extends PyValue>(items: readonly T[]): T[] {
  const a = [...items];
  if (a.length < 2) return a;
  if (a.length >= MIN_MERGE) return mergeSort(a);
  // count_run: the longest ascending (non-descending) or strictly descending run at the start.
  let run = 2;
  if (lessThan(a[1], a[0])) {
    while (run < a.length && lessThan(a[run], a[run - 1])) run++;
    a.splice(0, run, ...a.slice(0, run).reverse());
  } else {
    while (run < a.length && !lessThan(a[run], a[run - 1])) run++;
  }
  // binarysort: insert each later item after every item it is not less than.
  for (let start = run; start < a.length; start++) {
    const pivot = a[start];
    let lo = 0;
    let hi = start;
    do {
      const mid = lo + ((hi - lo) >> 1);
      if (lessThan(pivot, a[mid])) hi = mid;
      else lo = mid + 1;
    } while (lo < hi);
    a.splice(start, 1);
    a.splice(lo, 0, pivot);
  }
  return a;
}

function mergeSort<T extends PyValue>(a: T[]): T[] {
  if (a.length < 2) return a;
  const half = a.length >> 1;
  const left = mergeSort(a.slice(0, half));
  const right = mergeSort(a.slice(half));
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    out.push(lessThan(right[j], left[i]) ? right[j++] : left[i++]);
  }
  return out.concat(left.slice(i), right.slice(j));
}
