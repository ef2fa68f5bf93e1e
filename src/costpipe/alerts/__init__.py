"""Built-in alerts."""
