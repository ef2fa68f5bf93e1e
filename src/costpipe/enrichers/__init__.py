"""Built-in enrichers."""
