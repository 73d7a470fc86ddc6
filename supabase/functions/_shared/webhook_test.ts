// Webhook bodies: the row id, or threadsync/webhook.py's error text, byte for byte.
import { strictEqual, throws } from "node:assert/strict";
import { bytes, fixture, utf8 } from "./python_fixture.ts";
import { BadWebhook, rowId } from "./webhook.ts";

const cases = fixture();

function outcome(body: Uint8Array, table: string): string {
  try {
    return `id ${rowId(body, table)}`;
  } catch (e) {
    if (e instanceof BadWebhook) return `error ${e.message}`;
    throw e;
  }
}

Deno.test("a webhook's row id, bigint range included", () => {
  const body = (id: string) => utf8(`{"type": "INSERT", "table": "t", "record": {"id": ${id}}}`);
  strictEqual(rowId(body("7"), "t"), 7n);
  strictEqual(rowId(body("9223372036854775807"), "t"), 2n ** 63n - 1n);
  throws(() => rowId(body("9223372036854775808"), "t"), BadWebhook);
  throws(() => rowId(body("1.0"), "t"), BadWebhook);
  throws(() => rowId(body("true"), "t"), BadWebhook);
});

Deno.test("built-in error texts", () => {
  strictEqual(
    outcome(utf8(""), "t"),
    "error body is not JSON ('Expecting value: line 1 column 1 (char 0)')",
  );
  strictEqual(outcome(utf8("[]"), "t"), "error body must be a JSON object, got list");
  strictEqual(
    outcome(utf8("[".repeat(5000)), "t"),
    "error body is JSON nested too deeply to be a webhook",
  );
});

Deno.test({
  name: "row id or error text equals Python's on the fixture",
  ignore: cases === null,
  fn() {
    for (const c of cases!.webhook) {
      const expected = c.error === null ? `id ${c.id}` : `error ${c.error}`;
      strictEqual(outcome(bytes(c.body), c.table), expected, c.name);
    }
  },
});
