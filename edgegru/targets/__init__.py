"""Where the generated code runs: the host, Cortex-M under QEMU, an emulated Pi."""
