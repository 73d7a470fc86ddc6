// The harness's stand-in for Supabase's Edge Runtime: loads one Edge Function module unchanged and
// serves the handler it gives `Deno.serve`. Every `fetch` the function makes while serving a
// delivery carries that delivery's id (header `x-threadsync-delivery`), so the harness can make
// each of the function's requests one step of the actor that delivered the webhook.
//
// Time: the harness runs on a virtual clock. Every answer the harness gives (and each delivery)
// carries that clock's time (header `x-threadsync-now`, epoch ms), and `Date` inside a delivery
// reads it, so a function that compares with `new Date()` sees the database's time, as in
// production.
//
// Usage: deno run --allow-all host.ts <function name> <module URL>
// Prints one line `{"ready": <port>}` on stdout once it listens on 127.0.0.1.
import { AsyncLocalStorage } from "node:async_hooks";

type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;

const DELIVERY = "x-threadsync-delivery";
const NOW = "x-threadsync-now";
const [name, moduleUrl] = Deno.args;

type Delivery = { id: string; now: number | undefined };
const delivery = new AsyncLocalStorage<Delivery>();

function nowOf(headers: Headers): number | undefined {
  const value = Number(headers.get(NOW) ?? "");
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

const RealDate = Date;
function virtualNow(): number {
  return delivery.getStore()?.now ?? RealDate.now();
}
// `new Date()` and `Date.now()` read the delivery's virtual time; every other form is Date's own.
class HarnessDate extends RealDate {
  // deno-lint-ignore no-explicit-any
  constructor(...args: any[]) {
    // deno-lint-ignore no-explicit-any
    super(...((args.length === 0 ? [virtualNow()] : args) as [any]));
  }
  static override now(): number {
    return virtualNow();
  }
}
globalThis.Date = HarnessDate as DateConstructor;
const listen = Deno.serve.bind(Deno);
let handler: Handler | undefined;

function handlerOf(args: unknown[]): Handler | undefined {
  for (const arg of args) {
    if (typeof arg === "function") return arg as Handler;
    if (arg !== null && typeof arg === "object" && "handler" in arg) {
      return (arg as { handler: Handler }).handler;
    }
  }
  return undefined;
}

// The function's own Deno.serve: keep its handler; the host does the listening.
function captureServe(...args: unknown[]): unknown {
  handler = handlerOf(args);
  return {
    finished: new Promise<void>(() => {}),
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
    shutdown: () => Promise.resolve(),
    ref: () => {},
    unref: () => {},
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}
Object.defineProperty(Deno, "serve", {
  value: captureServe,
  configurable: true,
});

const fetchOriginal = globalThis.fetch;
globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
  const store = delivery.getStore();
  if (store === undefined) return fetchOriginal(input, init);
  const request = new Request(input, init);
  request.headers.set(DELIVERY, store.id);
  const response = await fetchOriginal(request);
  store.now = nowOf(response.headers) ?? store.now;
  return response;
};

// Supabase's runtime global for work after the reply; the harness keeps it running.
Object.defineProperty(globalThis, "EdgeRuntime", {
  value: { waitUntil: (promise: Promise<unknown>) => promise.catch(() => {}) },
  configurable: true,
});

await import(moduleUrl);
if (handler === undefined) {
  console.error(
    `threadsync host: function ${name} (${moduleUrl}) never called Deno.serve(handler) ` +
      "when imported; an Edge Function must serve its handler at module load",
  );
  Deno.exit(3);
}
const serveHandler: Handler = handler;

listen(
  {
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(JSON.stringify({ ready: port })),
  },
  (request, info) =>
    delivery.run({
      id: request.headers.get(DELIVERY) ?? "",
      now: nowOf(request.headers),
    }, async () => {
      try {
        return await serveHandler(request, info);
      } catch (error) {
        // What the Edge Runtime answers for an uncaught exception in a handler.
        console.error(`threadsync host: ${name} threw: ${error}`);
        return new Response(
          JSON.stringify({ outcome: "error", error: `uncaught: ${error}` }),
          { status: 500, headers: { "content-type": "application/json" } },
        );
      }
    }),
);
