-- Fixes the reference's claim-token key (random per deployment) so that harness runs replay
-- identically: the tokens appear in every history. A pipeline without that table is left alone.
DO $$
BEGIN
    IF pg_catalog.to_regclass('threadsync.claim_secret') IS NOT NULL THEN
        EXECUTE 'UPDATE threadsync.claim_secret SET secret = ''threadsync-harness-fixed-key''';
    END IF;
END
$$;
