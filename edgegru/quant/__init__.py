"""quant stage of edgegru."""
