"""Bare-metal Cortex-M harness shipped with edgegru (data files; see README.md here)."""
