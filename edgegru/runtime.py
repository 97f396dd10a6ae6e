"""``python -m edgegru.runtime``: the ``run`` command alone, for a Raspberry Pi without torch.

The streaming runner lives in :mod:`edgegru.tflite.stream`; this name stays because Pi set-ups,
scripts and docs call it.
"""

from edgegru.tflite.stream import StreamingModel, main

__all__ = ["StreamingModel", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
