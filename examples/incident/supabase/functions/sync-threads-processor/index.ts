// Edge Function `sync-threads-processor` as it ran during the incident. Its bugs are listed, with
// the harness check that finds each, in examples/incident/README.md.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { corsHeaders, json } from "../_shared/cors.ts";
import {
  HttpThreadsApi,
  ProviderError,
  PyException,
  summarise,
  wire,
} from "../_shared/threadsync.ts";

interface QueueEntry {
  id: number;
  thread_stage_id: number;
  job_id: number;
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
    const body = await req.json().catch(() => null);
    const queueId = body?.record?.id || body?.id;
    const now = new Date().toISOString();

    let queueEntry: QueueEntry | null = null;
    // Tries to use webhook payload (good): atomically claim the queue entry
    if (queueId) {
      const { data: claimedQueue } = await supabaseAdmin
        .from("thread_processing_queue")
        .update({ processed_at: now, status: "processing", started_at: now })
        .eq("id", queueId)
        .is("processed_at", null)
        .select("id, thread_stage_id, job_id")
        .single();
      queueEntry = claimedQueue;
    }

    // But then falls back to polling (BAD)
    if (!queueEntry) {
      const { data: pendingQueue, error } = await supabaseAdmin
        .from("thread_processing_queue")
        .select("id, thread_stage_id, job_id")
        .is("processed_at", null)
        .order("created_at", { ascending: true })
        .limit(1)
        .maybeSingle();
      if (error) throw error;
      if (!pendingQueue) return json(200, { message: "No unprocessed queue entries" });
      // ...and takes what it found by id alone: a claim, or even a completion, made since the
      // read is overwritten
      const { error: takeError } = await supabaseAdmin
        .from("thread_processing_queue")
        .update({ processed_at: now, status: "processing", started_at: now })
        .eq("id", pendingQueue.id);
      if (takeError) throw takeError;
      queueEntry = pendingQueue as QueueEntry;
    }

    return json(200, await processEntry(supabaseAdmin, api, queueEntry));
  } catch (error) {
    return json(500, { error: error instanceof Error ? error.message : JSON.stringify(error) });
  }
});

async function processEntry(supabaseAdmin: SupabaseClient, api: HttpThreadsApi, entry: QueueEntry) {
  const { data: stage, error: stageError } = await supabaseAdmin
    .from("thread_stage")
    .select("external_id")
    .eq("id", entry.thread_stage_id)
    .single();
  if (stageError) throw stageError;

  let result;
  try {
    result = await summarise(await api.fetchThread(stage.external_id));
  } catch (e) {
    if (!(e instanceof ProviderError || e instanceof PyException)) throw e;
    const { data, error } = await supabaseAdmin.rpc("fail_thread", {
      p_entry_id: entry.id,
      p_error: e instanceof ProviderError ? `threads API: ${e.message}` : e.message,
      p_retry_after_seconds: e instanceof ProviderError ? e.retryAfter : null,
    });
    if (error) throw error;
    return { entry_id: entry.id, error: e.message, ...data[0] };
  }
  const { data, error } = await supabaseAdmin.rpc("complete_thread", {
    p_entry_id: entry.id,
    p_result: wire(result),
  });
  if (error) throw error;
  return { entry_id: entry.id, ...data[0] };
}
