"""``[[sinks.sqlite]]``: :mod:`.store` (schema, threads, writes) and :mod:`.reader` (the query layer in SQL)."""
