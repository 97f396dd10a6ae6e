"""``python -m edgegru.runtime``: the ``run`` command alone, for a Raspberry Pi without torch.

The command lives in :mod:`edgegru.cli.run` and the streaming in :mod:`edgegru.tflite.stream`
(LiteRT) and :mod:`edgegru.engine.stream` (``--engine c``: the generated C through ctypes, no
LiteRT needed); this name stays because Pi set-ups, scripts and docs call it.
"""

from edgegru.cli.run import runtime_main as main
from edgegru.tflite.stream import StreamingModel

__all__ = ["StreamingModel", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
