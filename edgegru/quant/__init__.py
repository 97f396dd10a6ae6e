"""Quantisation: calibrate, quantise, and the bit-exact integer reference."""

from edgegru.quant.calibrate import Ranges, calibrate
from edgegru.quant.qmodel import QuantizedHead, QuantizedLayer, QuantizedModel
from edgegru.quant.quantize import quantize

__all__ = ["QuantizedHead", "QuantizedLayer", "QuantizedModel", "Ranges", "calibrate", "quantize"]
