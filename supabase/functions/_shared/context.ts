/**
 * Everything a handler needs, as threadsync.pipeline.Context: nothing global, so a test hands a
 * handler fakes and a function hands it the real client and API.
 */

import type { RpcClient } from "./db.ts";
import type { ThreadsApi } from "./threads_api.ts";

export interface Context {
  db: RpcClient;
  api: ThreadsApi | null;
}
