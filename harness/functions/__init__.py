"""TypeScript Edge Functions in the harness."""
