"""``costpipe export``: stored rows as files other tools read (FOCUS, CSV,
JSON lines, Parquet), streamed from either store; and the Grafana dashboard
built as code (:mod:`costpipe.export.grafana`)."""
