// Both handlers against Python's, on scripted database rows and API answers: the same requests
// in the same order, and the same reply.
import { deepStrictEqual } from "node:assert/strict";
import type { Context } from "./context.ts";
import type { RpcClient } from "./db.ts";
import { dumps, loads } from "./pyjson.ts";
import { bytes, fixture, type HandlerCase, utf8 } from "./python_fixture.ts";
import type { Reply } from "./reply.ts";
import { HttpThreadsApi } from "./threads_api.ts";
import { jsonText } from "./wire.ts";
import { handle as pageWorker } from "../sync-threads-page-worker/handler.ts";
import { handle as processor } from "../sync-threads-processor/handler.ts";

const HANDLERS = { page_worker: pageWorker, processor };
const API = "http://threads.test/api";
const cases = fixture();

/** JSON text as Python's json.dumps(value, sort_keys=True) writes it. */
function canonical(text: string): string {
  return dumps(loads(utf8(text)), { sortKeys: true });
}

/** Run one case with fakes that log each request and answer from the script. */
async function run(c: HandlerCase): Promise<{ calls: string[]; status: number; reply: string }> {
  const calls: string[] = [];
  const rows = [...c.rows];
  const answers = [...c.answers];
  const db: RpcClient = {
    rpc(fn, args) {
      calls.push(`rpc ${fn} ${canonical(JSON.stringify(args))}`);
      const row = rows.shift();
      if (row === undefined) throw new Error(`${c.name}: no row scripted for ${fn}`);
      return Promise.resolve({ data: [row], error: null });
    },
  };
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    calls.push(`GET ${url.slice(API.length)}`);
    const answer = answers.shift();
    if (answer === undefined) throw new Error(`${c.name}: no API answer scripted for ${url}`);
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (answer.retry_after !== null) headers["Retry-After"] = answer.retry_after;
    return Promise.resolve(new Response(bytes(answer.body), { status: answer.status, headers }));
  };
  let reply: Reply;
  try {
    const ctx: Context = { db, api: new HttpThreadsApi(API) };
    reply = await HANDLERS[c.handler](ctx, bytes(c.body));
  } finally {
    globalThis.fetch = realFetch;
  }
  return { calls, status: reply.status, reply: canonical(jsonText(reply.body)) };
}

Deno.test({
  name: "handlers make Python's requests and give Python's replies on the fixture",
  ignore: cases === null,
  async fn() {
    for (const c of cases!.handlers) {
      deepStrictEqual(await run(c), { calls: c.calls, status: c.status, reply: c.reply }, c.name);
    }
  },
});

Deno.test("an RPC error is a 500 with its message", async () => {
  const { respond } = await import("./reply.ts");
  const db: RpcClient = {
    rpc: () => Promise.resolve({ data: null, error: { message: "permission denied" } }),
  };
  const body = utf8('{"type": "INSERT", "table": "sync_page_queue", "record": {"id": 1}}');
  const response = await respond(() => pageWorker({ db, api: new HttpThreadsApi(API) }, body));
  deepStrictEqual([response.status, await response.json()], [
    500,
    { outcome: "error", error: "permission denied" },
  ]);
});
