"""backends stage of edgegru."""
