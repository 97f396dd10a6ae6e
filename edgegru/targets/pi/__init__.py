"""An emulated Raspberry Pi: its root file system, runner, verification and bench."""
