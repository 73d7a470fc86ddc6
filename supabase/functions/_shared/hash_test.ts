// content_hash and summarise against Python's: built-in cases, then Python's fixture if given.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { fixture, utf8 } from "./python_fixture.ts";
import { bytes } from "./python_fixture.ts";
import { dumps, loads } from "./pyjson.ts";
import { floatRepr, PyException, type PyValue, sorted } from "./pyvalue.ts";
import { contentHash, summarise } from "./summarise.ts";

const cases = fixture();

// Computed with threadsync.processor.content_hash on the JSON text shown.
const BUILT_IN: [string, string][] = [
  ["{}", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"],
  [
    '{"b": [1, 2.5, {"z": null, "a": true}], "a": "x"}',
    "41996d7f1c3e5b0566a06609b64a590eccca73f9aaaed47fc9694b9c807876fb",
  ],
  [
    '{"id": "t\\u00e9\\u4e2d\\ud83d\\ude00\\u007f\\u0001\\"\\\\/\\n"}',
    "7f33d3de637e328750a8ace1011c8f08531f434bc4dd5040acc55779ef462a5e",
  ],
  [
    '{"a": 1.0, "b": 1e20, "c": 1e16, "d": 1e15, "e": 1e-5, "f": 0.0001, "g": -0.0, ' +
    '"h": 5e-324, "i": 0.30000000000000004}',
    "0642c9c867d3591dffb05ed36e369d043e086bd1df819e05503eb01b3d345986",
  ],
];

Deno.test("content hash of built-in cases equals Python's", async () => {
  for (const [text, hash] of BUILT_IN) {
    strictEqual(await contentHash(loads(utf8(text))), hash, text);
  }
});

Deno.test("floats print as Python's repr", () => {
  const expected: [number, string][] = [
    [1, "1.0"],
    [1e20, "1e+20"],
    [1e16, "1e+16"],
    [1e15, "1000000000000000.0"],
    [123456789.125, "123456789.125"],
    [1e-5, "1e-05"],
    [0.0001, "0.0001"],
    [-0, "-0.0"],
    [1.5e300, "1.5e+300"],
    [NaN, "nan"],
    [-Infinity, "-inf"],
  ];
  for (const [x, text] of expected) strictEqual(floatRepr(x), text);
});

Deno.test("int and float stay apart, integers keep every digit", () => {
  const value = loads(utf8("[1, 1.0, 123456789012345678901234567890, -0, 1E5, 1e400]"));
  strictEqual(dumps(value), "[1, 1.0, 123456789012345678901234567890, 0, 100000.0, Infinity]");
});

Deno.test("sorted orders by code point and raises Python's TypeError", () => {
  deepStrictEqual(sorted(["\uffff", "\u{10000}", "a"]), ["a", "\uffff", "\u{10000}"]);
  deepStrictEqual(sorted<PyValue>([2n, 1.5, true]), [true, 1.5, 2n]);
  try {
    sorted<PyValue>(["a", 1n]);
    throw new Error("no TypeError");
  } catch (e) {
    strictEqual(
      (e as PyException).message,
      "'<' not supported between instances of 'int' and 'str'",
    );
  }
});

Deno.test({
  name: "content hash equals Python's on the fixture",
  ignore: cases === null,
  async fn() {
    for (const c of cases!.hash) {
      strictEqual(await contentHash(loads(bytes(c.body))), c.hash, c.name);
    }
  },
});

Deno.test({
  name: "summarise equals Python's on the fixture, errors included",
  ignore: cases === null,
  async fn() {
    for (const c of cases!.summarise) {
      const thread = loads(bytes(c.body));
      let got: { result: string | null; error: string | null };
      try {
        got = {
          result: dumps(await summarise(thread as Map<string, PyValue>), { sortKeys: true }),
          error: null,
        };
      } catch (e) {
        if (!(e instanceof PyException)) throw e;
        got = { result: null, error: `${e.pyType}: ${e.message}` };
      }
      deepStrictEqual(got, { result: c.result, error: c.error }, c.name);
    }
  },
});
