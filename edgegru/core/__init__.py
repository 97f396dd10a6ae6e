"""The lowest layer: errors, all-or-nothing writes, the container format, tools."""
