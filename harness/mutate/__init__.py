"""`threadsync mutate`: mutants of a pipeline's SQL, killed by replay then exploration, scored."""
