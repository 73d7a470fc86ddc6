// What the incident's functions take from the reference port (supabase/functions/_shared): the
// threads API client and the processing, so that the content they write is hashed exactly as the
// harness's checks hash it. The bugs the harness should find are all in this project's own code.
// (Deploying this example as it stands needs the reference's _shared next to it.)
export {
  HttpThreadsApi,
  ProviderError,
} from "../../../../../supabase/functions/_shared/threads_api.ts";
export { summarise } from "../../../../../supabase/functions/_shared/summarise.ts";
export { PyException } from "../../../../../supabase/functions/_shared/pyvalue.ts";
export { wire } from "../../../../../supabase/functions/_shared/wire.ts";
