-- What a project's owner sets once in the dashboard (README, "Deploy to Supabase"): the two Vault
-- secrets the pipeline's webhooks read. The harness's deliverer plays the Edge runtime and accepts
-- exactly this key, for exactly this host.
-- A real project's Vault holds other secrets too, stored before and between these (heap order is
-- insertion order here): a read that forgets to filter by name finds one of them, not ours.
SELECT vault.create_secret('sk_live_unrelated_payments_key', 'payments_api_key',
                           'another feature''s secret');
SELECT vault.create_secret('harness-service-role-key', 'threadsync_service_role_key');
SELECT vault.create_secret('https://hooks.example.invalid/unrelated', 'alerts_webhook_url',
                           'another feature''s secret');
SELECT vault.create_secret('http://edge-functions.local/functions/v1', 'threadsync_functions_url');
