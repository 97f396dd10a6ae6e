"""data stage of edgegru."""
