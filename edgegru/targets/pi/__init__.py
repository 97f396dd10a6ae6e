"""An emulated Raspberry Pi: arm64 Debian bookworm run by qemu-aarch64-static.

Why emulate: the promise that an int8 model gives the same bits on a Pi as on the
machine where it was verified can only be checked by running the Pi's own binaries
(LiteRT's and NumPy's aarch64 wheels, gcc's aarch64 code). qemu-user runs them on x86
in seconds, with no board and no VM image.

* :mod:`.boards`: the Pi 4 and Pi 5 (core, ``/proc/cpuinfo``) and the OS they run;
* :mod:`.tools`: the host tools needed, and how qemu-user is started;
* :mod:`.apt_sources` and :mod:`.root`: the cached arm64 root file system;
* :mod:`.runner`: Python (LiteRT, the streaming runtime) on the emulated Pi;
* :mod:`.verify_c`: the generated C cross-compiled and compared bit for bit;
* :mod:`.bench`: per-step timings of LiteRT and the C, emulated and native;
* :mod:`.icount_trace`: instructions per call of LiteRT's invoke and the C's step, from qemu's trace.
"""
