"""Stage 4, Compare: base vs tuned answers, golden-question metrics, blind A/B ratings in SQLite,
the verdict and an optional judge."""
