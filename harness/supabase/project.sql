-- What a project's owner sets once in the dashboard (README, "Deploy to Supabase"): the two Vault
-- secrets the pipeline's webhooks read. The harness's deliverer plays the Edge runtime and accepts
-- exactly this key, for exactly this host.
SELECT vault.create_secret('http://edge-functions.local/functions/v1', 'threadsync_functions_url');
SELECT vault.create_secret('harness-service-role-key', 'threadsync_service_role_key');
