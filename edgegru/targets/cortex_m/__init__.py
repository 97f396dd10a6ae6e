"""Cortex-M: cores, firmware builds under QEMU, instruction counts, footprint."""
