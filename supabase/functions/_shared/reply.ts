/**
 * What a handler answers (the port of threadsync.pipeline.Reply), and how a function serves it:
 * any error the handler throws (an RPC error included) becomes 500 `{outcome: "error", error}`,
 * the harness's failure, where the Python handler would have raised.
 */

import { jsonText } from "./wire.ts";

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

export function reply(status: number, body: Record<string, unknown>): Reply {
  return { status, body };
}

/** The HTTP response for whatever `run` answers or throws. */
export async function respond(run: () => Promise<Reply>): Promise<Response> {
  let answer: Reply;
  try {
    answer = await run();
  } catch (e) {
    answer = reply(500, { outcome: "error", error: e instanceof Error ? e.message : String(e) });
  }
  return new Response(jsonText(answer.body), {
    status: answer.status,
    headers: { "Content-Type": "application/json" },
  });
}
