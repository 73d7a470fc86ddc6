// Edge Function `sync-threads-page-worker`: the Database Webhook of each new sync_page_queue row.
import { createClient } from "@supabase/supabase-js";
import { respond } from "../_shared/reply.ts";
import { threadsApiFromEnv } from "../_shared/threads_api.ts";
import { handle } from "./handler.ts";

Deno.serve(async (req) => {
  const body = new Uint8Array(await req.arrayBuffer());
  return await respond(() => {
    const supabase = createClient(
      Deno.env.get("SUPABASE_URL")!,
      Deno.env.get("SUPABASE_SERVICE_ROLE_KEY")!,
      // db.retry: supabase-js would retry a failed GET by itself; every request is one step.
      { auth: { persistSession: false, autoRefreshToken: false }, db: { retry: false } },
    );
    return handle({ db: supabase, api: threadsApiFromEnv() }, body);
  });
});
