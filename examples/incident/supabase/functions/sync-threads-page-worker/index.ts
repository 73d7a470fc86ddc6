// Edge Function `sync-threads-page-worker` as it ran during the incident. Its bugs are listed, with
// the harness check that finds each, in examples/incident/README.md.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { corsHeaders, json } from "../_shared/cors.ts";
import { HttpThreadsApi, ProviderError, wire } from "../_shared/threadsync.ts";

// One invocation keeps taking pages while it finds pending ones, up to this many polls (each poll
// is one request), so that it ends.
const MAX_POLLS = 5;

interface Page {
  id: number;
  status: string;
  attempts: number;
  cursor: string | null;
  page_size: number;
}

Deno.serve(async (req) => {
  if (req.method === "OPTIONS") return new Response("ok", { headers: corsHeaders });
  try {
    const supabaseAdmin = createClient(
      Deno.env.get("SUPABASE_URL")!,
      Deno.env.get("SUPABASE_SERVICE_ROLE_KEY")!,
      { auth: { persistSession: false, autoRefreshToken: false }, db: { retry: false } },
    );
    const api = new HttpThreadsApi(Deno.env.get("THREADS_API_URL")!);
    const processed = [];
    for (let poll = 1; poll <= MAX_POLLS; poll++) {
      // Webhook fires with page ID in body, but function IGNORES it and queries for ANY pending page
      const { data: pages, error } = await supabaseAdmin
        .from("sync_page_queue")
        .select("*")
        .eq("status", "pending")
        .lte("next_retry_at", new Date().toISOString())
        .order("created_at", { ascending: true })
        .limit(1);
      if (error) throw error;
      if (!pages || pages.length === 0) break;
      const page = await claimPage(supabaseAdmin, pages[0].id);
      if (!page) continue;
      processed.push(await processPage(supabaseAdmin, api, page));
    }
    return json(200, { message: `processed ${processed.length} page(s)`, processed });
  } catch (error) {
    return json(500, { error: error instanceof Error ? error.message : JSON.stringify(error) });
  }
});

async function claimPage(supabaseAdmin: SupabaseClient, id: number): Promise<Page | null> {
  // Step 1: read the page and decide here whether it is free (NOT ATOMIC)
  const { data: page, error } = await supabaseAdmin
    .from("sync_page_queue")
    .select("id, status, attempts, cursor, page_size")
    .eq("id", id)
    .single();
  if (error) throw error;
  if (page.status !== "pending") return null;
  // Step 2: mark it as processing (RACE CONDITION HERE): by id alone, whatever happened since
  const { error: updateError } = await supabaseAdmin
    .from("sync_page_queue")
    .update({
      status: "processing",
      attempts: page.attempts + 1,
      started_at: new Date().toISOString(),
    })
    .eq("id", id);
  if (updateError) throw updateError;
  return page as Page;
}

async function processPage(supabaseAdmin: SupabaseClient, api: HttpThreadsApi, page: Page) {
  let threads, nextCursor;
  try {
    ({ threads, nextCursor } = await api.fetchPage(page.cursor, page.page_size));
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    const { data, error } = await supabaseAdmin.rpc("fail_page", {
      p_page_id: page.id,
      p_error: `threads API: ${e.message}`,
      p_retry_after_seconds: e.retryAfter,
    });
    if (error) throw error;
    return { page_id: page.id, error: e.message, ...data[0] };
  }
  const { data, error } = await supabaseAdmin.rpc("complete_page", {
    p_page_id: page.id,
    p_threads: wire(threads),
    p_next_cursor: nextCursor,
  });
  if (error) throw error;
  return { page_id: page.id, ...data[0] };
}
