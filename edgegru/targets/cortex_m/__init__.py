"""Cortex-M under QEMU and unicorn, one job per module.

``cores`` (the table of cores: flags, QEMU board, memory map), ``qemu`` (build firmware,
run it), ``kernels`` (layout and kernel choice of the generated C), ``clang`` (the model
compiled with clang), ``verify`` (bit-exact check under QEMU), ``footprint`` (flash, RAM,
budgets), ``icount`` (the unicorn instruction counter), ``instructions`` (one step's
instructions, attributed to functions) and ``tables`` (the tables of ``edgegru bench``).
"""
