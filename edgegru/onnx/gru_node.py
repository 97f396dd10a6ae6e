"""One ONNX ``GRU`` node as an edgegru layer: its attributes, weights and optional inputs.

Every attribute value the edgegru equations do not have is refused by name, and the
weights are read in ONNX's gate order (z, r, h) and turned into edgegru's (r, z, n).
"""

from __future__ import annotations

import numpy as np
import onnx

from edgegru.core.errors import quote
from edgegru.core.generator_limits import MAX_SIZE
from edgegru.nn.model import GRULayer, Variant
from edgegru.onnx.exporter import swap_update_reset
from edgegru.onnx.graph import OnnxGraph, describe, shown_value

DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh"]
VARIANT_OF_LINEAR_BEFORE_RESET: dict[int, Variant] = {1: "reset_after", 0: "reset_before"}


def _check_optional_inputs(graph: OnnxGraph, node: onnx.NodeProto) -> None:
    """sequence_lens and initial_h: accept only what cannot change edgegru's answer.

    A graph-input sequence_lens is ignored: edgegru reads each sequence at its last
    valid step, which is what the ONNX GRU returns for it. A stored one is refused
    because it fixes lengths the model cannot carry. An initial_h must be zeros or
    fed by the user (edgegru models start from zeros unless given a state).
    """
    names = list(node.input) + [""] * 6
    seq, h0 = names[4], names[5]
    if seq and seq not in graph.inputs:
        origin = "a constant" if seq in graph.constants else "computed in the graph"
        graph.fail(
            f"{describe(node)} input sequence_lens {quote(seq)} is {origin}; edgegru takes "
            "lengths at run time (leave it out or make it a graph input)"
        )
    if h0 and graph.state_origin(h0) is None:
        graph.fail(
            f"{describe(node)} input initial_h {quote(h0)} is not provably zero nor a graph "
            "input; edgegru models start from a zero state"
        )


def _check_attributes(graph: OnnxGraph, node: onnx.NodeProto, attrs: dict[str, object]) -> None:
    """Refuse, by name, every attribute value that the edgegru equations do not have."""
    who = describe(node)
    direction = attrs.get("direction", "forward")
    if direction != "forward":
        graph.fail(f"{who} direction={quote(direction)}: edgegru reads forward GRUs only")
    activations = attrs.get("activations")
    if activations is not None and activations != DEFAULT_ACTIVATIONS:
        graph.fail(
            f"{who} activations={shown_value(activations)}: expected the default {DEFAULT_ACTIVATIONS}"
        )
    for name in ("activation_alpha", "activation_beta", "clip"):
        if name in attrs:
            graph.fail(f"{who} {name}={shown_value(attrs[name])}: not supported by edgegru")
    for name in ("linear_before_reset", "layout"):
        if attrs.get(name, 0) not in (0, 1):
            graph.fail(f"{who} {name}={attrs[name]}: expected 0 or 1")


def _gru_weights(
    graph: OnnxGraph, node: onnx.NodeProto, attrs: dict[str, object]
) -> tuple[np.ndarray, np.ndarray, int]:
    """(W, R, hidden size): rank and sizes checked against MAX_SIZE before anything is derived."""
    who = describe(node)
    w, r = graph.constant(node, 1, "W"), graph.constant(node, 2, "R")
    for role, value in (("W", w), ("R", r)):
        if value.ndim != 3:
            graph.fail(f"{who} {role} has shape {list(value.shape)}, expected [1, 3*hidden, size]")
    hidden = int(attrs.get("hidden_size", r.shape[-1]))
    if not 1 <= hidden <= MAX_SIZE:
        graph.fail(f"{who} hidden_size={hidden}: expected 1 to {MAX_SIZE} (the C generator's limit)")
    return w, r, hidden


def gru_node_to_layer(
    graph: OnnxGraph, node: onnx.NodeProto, input_size: int | None
) -> tuple[GRULayer, Variant, int]:
    """One forward GRU node as (layer, variant, layout); ``input_size`` None takes W's."""
    attrs = graph.attributes(node)
    _check_attributes(graph, node, attrs)
    _check_optional_inputs(graph, node)
    who = describe(node)
    w, r, hidden = _gru_weights(graph, node, attrs)
    size = w.shape[-1] if input_size is None else input_size
    if not 1 <= size <= MAX_SIZE:
        graph.fail(f"{who} input size {size}: expected 1 to {MAX_SIZE} (the C generator's limit)")
    expected = {"W": (1, 3 * hidden, size), "R": (1, 3 * hidden, hidden), "B": (1, 6 * hidden)}
    has_bias = len(node.input) > 3 and node.input[3] != ""
    b = graph.constant(node, 3, "B") if has_bias else np.zeros(expected["B"], np.float32)
    for role, value in (("W", w), ("R", r), ("B", b)):
        if value.shape != expected[role]:
            graph.fail(
                f"{who} {role} has shape {list(value.shape)}, expected "
                f"{list(expected[role])} for hidden_size={hidden}, input size {size}"
            )
    biases = b[0].reshape(2, 3, hidden).astype(np.float32)
    layer = GRULayer(
        swap_update_reset(w[0].reshape(3, hidden, size).astype(np.float32)),
        swap_update_reset(r[0].reshape(3, hidden, hidden).astype(np.float32)),
        swap_update_reset(biases[0]),
        swap_update_reset(biases[1]),
    )
    lbr = int(attrs.get("linear_before_reset", 0))
    return layer, VARIANT_OF_LINEAR_BEFORE_RESET[lbr], int(attrs.get("layout", 0))
