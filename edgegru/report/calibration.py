"""What the int8 input quantisation does to each channel of the data.

The model quantises every input channel as ``clamp(round(x * scale_mul + offset))``; read
backwards, each channel has a range in its own units beyond which values saturate at -128
or 127. A channel whose data spill well past that range loses information, and one that
fills only a sliver of it wastes resolution: both show at a glance on a histogram with the
range marked, so the report draws one per channel and counts the clipped values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegru.data import Dataset
from edgegru.data.dataset import valid_mask
from edgegru.quant.fixedpoint import INT8_MAX, INT8_MIN
from edgegru.quant.qmodel import InputQuantisation


@dataclass
class ChannelRange:
    """One input channel: its name, the data's extremes, the range int8 holds, and the share
    of the data's values (valid steps only) outside that range."""

    name: str
    data_lo: float
    data_hi: float
    int8_lo: float
    int8_hi: float
    clipped: float
    values: np.ndarray  # the channel's valid values, for the histogram


def channel_ranges(inq: InputQuantisation, data: Dataset) -> list[ChannelRange]:
    """Per channel, the data against the quantiser's range, in the data's units.

    A value is clipped when its scaled value ``x * scale_mul + offset``, computed in float32
    as the C does, rounds beyond [-128, 127].
    """
    values = data.x[valid_mask(data.lengths, data.x.shape[1])]  # (valid steps, D)
    scaled = values * inq.scale_mul + inq.offset  # float32, as in quantize_input
    clipped = (scaled < INT8_MIN - 0.5) | (scaled >= INT8_MAX + 0.5)
    mul, offset = inq.scale_mul.astype(np.float64), inq.offset.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # a file's scale_mul may be 0 or negative
        lo, hi = np.sort(np.stack([(INT8_MIN - offset) / mul, (INT8_MAX - offset) / mul]), axis=0)
    names = data.channel_names or [f"channel {d}" for d in range(data.input_size)]
    return [
        ChannelRange(
            names[d],
            float(values[:, d].min()),
            float(values[:, d].max()),
            float(lo[d]),
            float(hi[d]),
            float(clipped[:, d].mean()),
            values[:, d],
        )
        for d in range(data.input_size)
    ]
