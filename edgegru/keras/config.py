"""A Keras model config as the chain of layers the data passes through.

edgegru models are one chain (normalisation, GRUs, a head), so the config must be a
``Sequential`` model or a ``Functional`` one whose layers each take the previous layer's
output and nothing else; anything branching, merging or calling a layer twice is refused
naming the layer. The config is JSON from a stranger: each field is checked for its type
before it is used, and a refusal names the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from edgegru.core.errors import quote
from edgegru.keras.archive import KerasFile, Layer

MAX_CONFIG_LAYERS = 64  # normalisation, masking, MAX_LAYERS GRUs, a head, dropouts: far fewer
SEQUENTIAL = "Sequential"
FUNCTIONAL = ("Functional", "Model")  # Keras 3 and Keras 2 names of a functional model
MASK_OPS = ("NotEqual", "Any")  # the op layers Keras 3 computes a Masking layer's mask with


def snake_case(name: str) -> str:
    """Keras's group name for a class (``TimeDistributed`` -> ``time_distributed``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def as_dict(keras: KerasFile, value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        keras.fail(f"{what} is {type(value).__name__}, expected a JSON object")
    return value


def as_list(keras: KerasFile, value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        keras.fail(f"{what} is {type(value).__name__}, expected a JSON list")
    return value


def as_name(keras: KerasFile, value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        keras.fail(f"{what} is not a name")
    return value


def model_layers(keras: KerasFile) -> list[Layer]:
    """The model's layers in the order the data passes them."""
    top = as_dict(keras, keras.config, "the model config")
    kind = top.get("class_name")
    body = top.get("config")
    if kind == SEQUENTIAL:
        entries = body if isinstance(body, list) else as_dict(keras, body, "config").get("layers")
    elif kind in FUNCTIONAL:
        entries = as_dict(keras, body, "config").get("layers")
    else:
        keras.fail(
            f"model class {quote(kind)}: expected a Sequential or Functional model (a subclassed "
            "model's config does not say what it computes)"
        )
    entries = as_list(keras, entries, "config.layers")
    if len(entries) > MAX_CONFIG_LAYERS:
        keras.fail(f"{len(entries)} layers, more than the {MAX_CONFIG_LAYERS} a GRU model has")
    layers = _layers(keras, entries)
    if kind == SEQUENTIAL:
        return layers
    return _functional_chain(keras, as_dict(keras, body, "config"), entries, layers)


def _layers(keras: KerasFile, entries: list[Any]) -> list[Layer]:
    """Each entry as a Layer, keyed as a .keras file's weights name it."""
    counts: dict[str, int] = {}
    layers = []
    for k, entry in enumerate(entries):
        entry = as_dict(keras, entry, f"config.layers[{k}]")
        class_name = as_name(keras, entry.get("class_name"), f"config.layers[{k}].class_name")
        config = as_dict(keras, entry.get("config"), f"config.layers[{k}].config")
        name = as_name(keras, config.get("name", entry.get("name")), f"config.layers[{k}] name")
        base = snake_case(class_name)
        counts[base] = counts.get(base, -1) + 1
        layers.append(Layer(name, class_name, config, base if not counts[base] else f"{base}_{counts[base]}"))
    if len({layer.name for layer in layers}) != len(layers):
        keras.fail("two layers have the same name")
    return layers


@dataclass
class _Call:
    """How a functional model calls a layer: the layers it reads, the layer that computes the
    mask it is given (Keras 3 passes ``mask=``), and the plain values among its arguments."""

    sources: list[str]
    mask: str | None = None
    values: list[object] = field(default_factory=list)


def _functional_chain(
    keras: KerasFile, body: dict[str, Any], entries: list[Any], layers: list[Layer]
) -> list[Layer]:
    """The layers from the one input to the one output, each fed by the one before."""
    by_name = {layer.name: layer for layer in layers}
    calls = {
        layer.name: _call(keras, layer, entry.get("inbound_nodes", []))
        for entry, layer in zip(entries, layers, strict=True)
    }
    branch = [layer for layer in layers if layer.class_name in MASK_OPS]
    feeds: dict[str, list[Layer]] = {}
    for layer in layers:
        if layer not in branch:
            for source in calls[layer.name].sources:
                feeds.setdefault(source, []).append(layer)
    first, last = (_endpoint(keras, body.get(key), key) for key in ("input_layers", "output_layers"))
    if first not in by_name or last not in by_name:
        keras.fail("input_layers or output_layers names a layer the config does not have")
    chain = [by_name[first]]
    while chain[-1].name != last:
        users = feeds.get(chain[-1].name, [])
        if len(users) != 1:
            names = ", ".join(str(user) for user in users[:3]) or "no layer"
            keras.fail(f"{chain[-1]} feeds {names}; edgegru reads one chain of layers")
        chain.append(users[0])
    if len(chain) + len(branch) != len(layers):
        extra = next(layer for layer in layers if layer not in chain and layer not in branch)
        keras.fail(f"{extra} is not on the chain from the input to the output")
    masks = {calls[layer.name].mask for layer in chain} - {None}
    if branch or masks:
        _check_mask_branch(keras, chain, calls, by_name, masks)
    return chain


def _check_mask_branch(
    keras: KerasFile, chain: list[Layer], calls: dict[str, _Call], by_name: dict[str, Layer], masks: set
) -> None:
    """Keras 3 writes a Masking layer's mask as ``Any(NotEqual(x, mask_value), axis=-1)``
    beside the chain and passes it as ``mask=`` to the layers after it. Accept exactly that
    (it is the Masking layer's own mask); any other mask is refused, since edgegru would
    not compute it."""
    masking = [layer for layer in chain if layer.class_name == "Masking"]
    any_layer = by_name.get(next(iter(masks), "")) if len(masks) == 1 else None
    not_equal = None
    if any_layer is not None and any_layer.class_name == "Any" and len(calls[any_layer.name].sources) == 1:
        not_equal = by_name.get(calls[any_layer.name].sources[0])
    ok = len(masking) == 1 and not_equal is not None and not_equal.class_name == "NotEqual"
    if ok:
        assert any_layer is not None and not_equal is not None
        compare = calls[not_equal.name]
        ok = (
            compare.sources == calls[masking[0].name].sources
            and compare.values == [masking[0].config.get("mask_value", 0.0)]
            and any_layer.config.get("axis") in (-1, [-1])
            and not any_layer.config.get("keepdims", False)
            and len(chain) + 2 == len(by_name)
        )
    if not ok:
        keras.fail(
            "the layers are given a mask that is not a Masking layer's own "
            "(Any(NotEqual(x, mask_value), axis=-1)); edgegru reads masks only from Masking"
        )


def _endpoint(keras: KerasFile, value: object, what: str) -> str:
    """The one layer name of input_layers/output_layers: [name, 0, 0] or [[name, 0, 0]]."""
    items = as_list(keras, value, f"config.{what}")
    if items and isinstance(items[0], list):
        if len(items) != 1:
            keras.fail(
                f"config.{what} lists {len(items)} layers; edgegru models have one input and one output"
            )
        items = items[0]
    return as_name(keras, items[0] if items else None, f"config.{what}")


def _call(keras: KerasFile, layer: Layer, nodes: object) -> _Call:
    """How ``layer`` is called (no sources for the input layer)."""
    nodes = as_list(keras, nodes, f"{layer} inbound_nodes")
    if not nodes:
        return _Call([])
    if len(nodes) != 1:
        keras.fail(f"{layer} is called {len(nodes)} times; edgegru reads each layer used once")
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3: {"args": [tensor or value, ...], "kwargs": {...}}
        args = as_list(keras, node.get("args", []), f"{layer} call arguments")
        sources = [name for arg in args for name in _keras_tensors(arg)]
        values = [arg for arg in args if not _keras_tensors(arg)]
        options = dict(as_dict(keras, node.get("kwargs", {}), f"{layer} call options"))
        mask = _keras_tensors(options.pop("mask", None))
        call = _Call(sources, mask[0] if len(mask) == 1 else None, values)
    else:  # Keras 2: [[name, node index, tensor index, kwargs], ...]
        entries = as_list(keras, node, f"{layer} inbound_nodes[0]")
        sources = [e[0] for e in entries if isinstance(e, list) and e and isinstance(e[0], str)]
        if len(sources) != len(entries):
            keras.fail(f"{layer} inbound_nodes[0] is not a list of [layer, node, tensor, kwargs]")
        options = as_dict(
            keras, entries[0][3] if entries and len(entries[0]) > 3 else {}, f"{layer} call options"
        )
        call = _Call(sources)
    used = sorted(key for key, value in options.items() if value is not None and not isinstance(value, bool))
    if used:
        keras.fail(f"{layer} is called with {', '.join(map(quote, used[:3]))}; edgegru reads plain calls")
    if len(call.sources) != 1 and layer.class_name not in MASK_OPS:
        keras.fail(f"{layer} takes {len(call.sources)} inputs; edgegru reads one chain of layers")
    return call


def _keras_tensors(value: object) -> list[str]:
    """The layer names in Keras 3 call arguments (``__keras_tensor__`` objects, at any depth)."""
    found: list[str] = []
    todo = [value]
    while todo and len(found) <= MAX_CONFIG_LAYERS:
        item = todo.pop()
        if isinstance(item, list):
            todo.extend(reversed(item))
        elif isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            config = item.get("config")
            history = config.get("keras_history") if isinstance(config, dict) else None
            named = isinstance(history, list) and history and isinstance(history[0], str)
            found.append(history[0] if named else "")
    return found
