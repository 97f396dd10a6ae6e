"""Writes the GRU step graph (``graph.emit_step``) as TFLite operators.

One emitter serves both number formats. In float32 every tensor is float32. In
int8 every activation tensor takes its quantisation from a *plan* (role ->
:class:`QuantParams`, built by ``int8.make_plan``), and the ops whose
kernels fix their output quantisation get it regardless of the plan:
LOGISTIC (1/256, -128), TANH (1/128, 0), and SPLIT/SPLIT_V/CONCATENATION/UNPACK/
PACK/RESHAPE, which move bytes and so keep their input's parameters.
FULLY_CONNECTED weights are int8, symmetric, one scale per FC; biases int32 at
input_scale*weight_scale (see ``int8.quantize_fc``).

Tensors are built under the name ``<prefix><role>`` (the caller sets ``prefix``,
``t3/``, while unrolling a sequence); only the graph's inputs and outputs keep
their names in the file. Weight tensors are made once per role and shared by all
steps, so an unrolled model stores its weights once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgegru.tflite import int8 as tflite_int8
from edgegru.tflite.builder import GraphBuilder, Op, Options, QuantParams, schema
from edgegru.tflite.int8 import LOGISTIC_QUANT, TANH_QUANT

# The index TFLite gives an optional operator input that is left out.
NO_INPUT = -1


@dataclass(frozen=True)
class Value:
    """A tensor of the graph being built, with its quantisation (None in float)."""

    index: int
    quant: QuantParams | None


class TfliteEmitter:
    """Implements ``graph.Emitter`` by appending operators to a GraphBuilder."""

    def __init__(self, builder: GraphBuilder, plan: dict[str, QuantParams] | None) -> None:
        self.builder = builder
        self.plan = plan
        self.prefix = ""
        self._dtype = np.float32 if plan is None else np.int8
        self._fc_weights: dict[str, tuple[int, int]] = {}

    @property
    def is_int8(self) -> bool:
        return self.plan is not None

    def _planned(self, role: str) -> QuantParams | None:
        return None if self.plan is None else self.plan[role]

    def _tensor(self, name: str, shape: tuple[int, ...], quant: QuantParams | None) -> Value:
        return Value(self.builder.tensor(name, shape, self._dtype, quant), quant)

    def _new(self, role: str, shape: tuple[int, ...], quant: QuantParams | None) -> Value:
        return self._tensor(self.prefix + role, shape, quant)

    def _version(self, int8_version: int) -> int:
        """Operator version: 1 in float, the int8 kernel's version otherwise."""
        return int8_version if self.is_int8 else 1

    def _shape(self, value: Value) -> tuple[int, ...]:
        return self.builder.shape_of(value.index)

    # Graph inputs and constants ------------------------------------------------

    def input(self, name: str, shape: tuple[int, ...], role: str) -> Value:
        """A graph input named ``name`` quantised like ``role``."""
        return self._tensor(name, shape, self._planned(role))

    def zeros(self, size: int, role: str) -> Value:
        """A constant all-zero state (1, size): the start of a sequence."""
        quant = self._planned(role)
        zero = 0 if quant is None else quant.zero_point[0]
        data = np.full((1, size), zero, dtype=self._dtype)
        return Value(self.builder.constant(f"{role}/zero", data, quant), quant)

    # The operations of a GRU step ----------------------------------------------

    def fc(self, x: Value, weight: np.ndarray, bias: np.ndarray | None, role: str) -> Value:
        """FULLY_CONNECTED; without a bias its optional bias input is left out."""
        if role not in self._fc_weights:
            self._fc_weights[role] = self._fc_constants(x, weight, bias, role)
        w_index, b_index = self._fc_weights[role]
        out = self._new(role, (1, weight.shape[0]), self._planned(role))
        # No options table: every FullyConnectedOptions field is at its default.
        self.builder.op(
            Op.FULLY_CONNECTED,
            [x.index, w_index, b_index],
            [out.index],
            version=self._version(4),
        )
        return out

    def _fc_constants(
        self, x: Value, weight: np.ndarray, bias: np.ndarray | None, role: str
    ) -> tuple[int, int]:
        if x.quant is None:
            w = self.builder.constant(f"{role}/weight", weight.astype(np.float32))
            if bias is None:
                return w, NO_INPUT
            return w, self.builder.constant(f"{role}/bias", bias.astype(np.float32))
        q_weight, w_quant, q_bias, b_quant = tflite_int8.quantize_fc(weight, bias, x.quant)
        w = self.builder.constant(f"{role}/weight", q_weight, w_quant)
        if q_bias is None:
            return w, NO_INPUT
        return w, self.builder.constant(f"{role}/bias", q_bias, b_quant)

    def add(self, a: Value, b: Value, role: str) -> Value:
        return self._binary(Op.ADD, a, b, role)

    def sub(self, a: Value, b: Value, role: str) -> Value:
        return self._binary(Op.SUB, a, b, role)

    def mul(self, a: Value, b: Value, role: str) -> Value:
        return self._binary(Op.MUL, a, b, role)

    def _binary(self, code: int, a: Value, b: Value, role: str) -> Value:
        # No options table: no fused activation, the default.
        out = self._new(role, self._shape(a), self._planned(role))
        version = 1
        if self.is_int8:
            version = tflite_int8.binary_op_version(code, a.quant, b.quant, out.quant)
        self.builder.op(code, [a.index, b.index], [out.index], version=version)
        return out

    def logistic(self, a: Value, role: str) -> Value:
        return self._activation(Op.LOGISTIC, a, role, LOGISTIC_QUANT)

    def tanh(self, a: Value, role: str) -> Value:
        return self._activation(Op.TANH, a, role, TANH_QUANT)

    def _activation(self, code: int, a: Value, role: str, int8_quant: QuantParams) -> Value:
        out = self._new(role, self._shape(a), int8_quant if self.is_int8 else None)
        self.builder.op(code, [a.index], [out.index], version=self._version(2))
        return out

    def concat(self, a: Value, b: Value, role: str) -> Value:
        """(1, m) and (1, n) -> (1, m + n); int8 needs both inputs quantised alike."""
        if a.quant != b.quant:
            raise ValueError(f"{role}: int8 CONCATENATION needs inputs with one quantisation")
        (batch, m), (_, n) = self._shape(a), self._shape(b)
        out = self._new(role, (batch, m + n), a.quant)
        options = schema.ConcatenationOptionsT()
        options.axis = 1
        self.builder.op(
            Op.CONCATENATION,
            [a.index, b.index],
            [out.index],
            (Options.ConcatenationOptions, options),
            version=self._version(2),
        )
        return out

    def split(self, a: Value, sizes: Sequence[int], roles: Sequence[str]) -> list[Value]:
        """Cut (1, sum(sizes)) along axis 1: SPLIT for equal parts, SPLIT_V otherwise."""
        batch, _ = self._shape(a)
        axis = self.builder.constant("split_axis", np.array(1, dtype=np.int32))
        outs = [self._new(role, (batch, size), a.quant) for role, size in zip(roles, sizes, strict=True)]
        if len(set(sizes)) == 1:
            code, inputs = Op.SPLIT, [axis, a.index]
            kind, options = Options.SplitOptions, schema.SplitOptionsT()
        else:
            size_splits = self.builder.constant("split_sizes", np.array(sizes, dtype=np.int32))
            code, inputs = Op.SPLIT_V, [a.index, size_splits, axis]
            kind, options = Options.SplitVOptions, schema.SplitVOptionsT()
        options.numSplits = len(roles)
        self.builder.op(code, inputs, [o.index for o in outs], (kind, options), version=self._version(2))
        return outs

    # Sequence plumbing -----------------------------------------------------------

    def unpack(self, x: Value, role: str) -> list[Value]:
        """Cut x (1, T, D) into T steps (1, D)."""
        _, steps, width = self._shape(x)
        outs = [self._tensor(f"t{t}/{role}", (1, width), x.quant) for t in range(steps)]
        options = schema.UnpackOptionsT()
        options.num = steps
        options.axis = 1
        self.builder.op(
            Op.UNPACK,
            [x.index],
            [o.index for o in outs],
            (Options.UnpackOptions, options),
            version=self._version(2),
        )
        return outs

    def pack(self, values: list[Value], name: str) -> Value:
        """Stack T values (1, C) into (1, T, C); int8 PACK needs one shared quantisation."""
        _, width = self._shape(values[0])
        out = self._tensor(name, (1, len(values), width), values[0].quant)
        options = schema.PackOptionsT()
        options.valuesCount = len(values)
        options.axis = 1
        self.builder.op(
            Op.PACK,
            [v.index for v in values],
            [out.index],
            (Options.PackOptions, options),
            version=self._version(2),
        )
        return out

    def copy(self, a: Value, name: str) -> Value:
        """A same-shape RESHAPE: gives a value a second name (``y`` = last state)."""
        shape = self._shape(a)
        out = self._tensor(name, shape, a.quant)
        target = self.builder.constant(f"{name}/shape", np.array(shape, dtype=np.int32))
        options = schema.ReshapeOptionsT()
        options.newShape = list(shape)
        self.builder.op(Op.RESHAPE, [a.index, target], [out.index], (Options.ReshapeOptions, options))
        return out
