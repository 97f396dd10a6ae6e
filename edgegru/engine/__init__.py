"""The C engine: a quantised model's generated C, called from Python through ctypes.

* :mod:`.library`: a built library loaded and checked against its model (NumPy and ctypes
  only, so a prebuilt library runs on a Raspberry Pi without a compiler);
* :mod:`.build`: the library compiled from the generated C and the engine shim, cached
  per machine or written for another one (a Pi);
* :mod:`.stream`: :class:`CStreamingModel`, what ``edgegru run --engine c`` streams through.
"""
