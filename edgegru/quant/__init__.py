"""Quantisation: calibrate, quantise, and the bit-exact integer reference."""

from .calibrate import Ranges, calibrate
from .qmodel import QuantizedHead, QuantizedLayer, QuantizedModel
from .quantize import quantize

__all__ = ["QuantizedHead", "QuantizedLayer", "QuantizedModel", "Ranges", "calibrate", "quantize"]
