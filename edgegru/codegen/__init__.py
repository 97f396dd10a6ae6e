"""codegen stage of edgegru."""
