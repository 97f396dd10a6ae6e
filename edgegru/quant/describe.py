"""A quantised ``.egru`` file described for ``edgegru info`` (the record: :mod:`edgegru.nn.describe`)."""

from __future__ import annotations

from pathlib import Path

from edgegru.nn.describe import Description, fill_shape, recorded_metrics
from edgegru.quant.qmodel import QuantizedModel


def describe_qmodel(qm: QuantizedModel, path: str | Path) -> Description:
    """A quantised model (as read from ``path``) described: its integer formats, and the
    float model's recorded test metric, which quantize copies into ``source_model``.

    The normalisation is not listed: quantize folds it, with the input's scale and zero
    point, into the per-channel ``scale_mul``/``offset`` of the input conversion.
    """
    d = Description(str(path), "egru", Path(path).stat().st_size, True, precision="int8")
    fill_shape(d, qm.input_size, qm.hidden_sizes, qm.head, qm.frame)
    d.variant, d.state_bits = qm.variant, qm.state_bits
    d.normalisation = {"in_graph": True}
    d.weight_bytes = qm.weight_bytes()
    source = qm.metadata.get("source_model")
    if isinstance(source, dict):
        d.recorded = recorded_metrics(source, "float model's test")
    d.quantisation["input"] = {"scale": float(qm.input.scale), "zero_point": int(qm.input.zero_point)}
    if qm.head is not None:
        d.quantisation["output"] = {"scale": float(qm.head.logit_scale), "zero_point": 0}
    d.metadata = {k: v for k, v in qm.metadata.items() if k != "source_model"}
    return d
