"""The two files Keras saves a whole model in, read without TensorFlow or Keras.

* ``.keras`` (Keras 3, and tf.keras/tf_keras 2.13+): a zip of ``config.json`` (the model's
  layers), ``metadata.json`` and ``model.weights.h5``, where a layer's variables are the
  datasets ``0``, ``1``, ... (in the order Keras creates them) of the group
  ``layers/<key>[/cell|/layer]/vars``. ``<key>`` is not the layer's name but its class in
  snake case, numbered per class in the model's layer order (``gru``, ``gru_1``, ...).
* ``.h5`` (Keras 2's ``model.save("m.h5")``, also written by Keras 3): one HDF5 file with
  the config as the root attribute ``model_config`` and each layer's weights in
  ``model_weights/<layer name>``, named by its ``weight_names`` attribute
  (``gru/gru_cell/kernel:0``, ...).

Both come from strangers, so sizes are checked before anything is read or allocated: the
file and each zip member against a byte limit (reading at most one byte more, whatever
the zip's header claims), attribute and dataset shapes before their data, and every HDF5
link followed only if it is a hard link inside the file (external and soft links, virtual
datasets and external storage could make HDF5 open other files).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from edgegru.core.errors import EdgeGruError, one_line, quote
from edgegru.core.generator_limits import MAX_SIZE

# The weights of MAX_LAYERS GRUs of 512 units in float32 (6 MB each) plus the largest head: 52 MB
MAX_FILE_BYTES = 64 * 2**20
MAX_CONFIG_BYTES = 4 * 2**20  # a GRU model's config is a few KB; explicit normalisation lists add little
MAX_METADATA_BYTES = 64 * 2**10
MAX_MEMBERS = 1000  # zip members: Keras writes three, plus any assets
MAX_NAMES = 1000  # entries of a layer_names / weight_names attribute
MAX_VERSION_CHARS = 40
ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FLOAT_SIZES = (2, 4, 8)  # float16, float32, float64 weights are read (as float32)


def file_kind(path: Path) -> str | None:
    """``"keras"`` (a zip), ``"h5"`` (HDF5) or None, from the file's first bytes."""
    try:
        with path.open("rb") as file:
            head = file.read(len(HDF5_MAGIC))
    except OSError:
        return None
    if head.startswith(ZIP_MAGIC):
        return "keras"
    return "h5" if head == HDF5_MAGIC else None


def _h5py() -> Any:
    """h5py, or a one-line refusal that says how to get it (it is an optional dependency)."""
    try:
        import h5py
    except ImportError:
        raise EdgeGruError("reading Keras files needs h5py: pip install 'edgegru[keras]'") from None
    return h5py


@dataclass
class Layer:
    """One layer of the model's config: what the converters need to find and read it."""

    name: str
    class_name: str
    config: dict[str, Any]
    key: str  # its group under ``layers/`` in a .keras file's weights

    def __str__(self) -> str:
        return f"layer {quote(self.name)} ({quote(self.class_name)[1:-1]})"


class KerasFile:
    """An open Keras file: its config, its Keras version and a reader of its weights."""

    def __init__(self, where: str, config: object, version: str | None, weights: Any, legacy: bool) -> None:
        self.where = where
        self.config = config
        self.version = version
        self.weights = weights  # the h5py.File holding the weights
        self.legacy = legacy  # True for an .h5 file (weights by name), False for .keras

    def fail(self, message: str) -> NoReturn:
        raise EdgeGruError(f"{self.where}: {message}")

    def read(self, layer: Layer, part: str, roles: tuple[str, ...], shapes: dict[str, tuple]) -> dict:
        """The variables ``shapes`` names, of a layer whose variables are ``roles`` in the
        order Keras creates them; ``part`` is ``cell`` (a GRU's) or ``layer`` (the layer a
        TimeDistributed wraps) in .keras files. A shape's None entries take any size in
        1..MAX_SIZE; every shape is checked before the data is read."""
        found = self._legacy_variables(layer, roles) if self.legacy else self._variables(layer, part, roles)
        return {role: self._array(found[role], f"{layer} {role}", shape) for role, shape in shapes.items()}

    def _variables(self, layer: Layer, part: str, roles: tuple[str, ...]) -> dict[str, Any]:
        path = ["layers", layer.key, *([part] if part else []), "vars"]
        group = self._group(path, f"{layer} weights")
        names = sorted(group.keys(), key=lambda n: (len(n), n))
        if names != [str(k) for k in range(len(roles))]:
            shown = ", ".join(map(quote, names[:5]))
            self.fail(
                f"{layer} weights {'/'.join(path)} hold [{shown}], expected the {len(roles)} "
                f"variables {', '.join(roles)}"
            )
        return {role: self._child(group, str(k), f"{layer} {role}") for k, role in enumerate(roles)}

    def _legacy_variables(self, layer: Layer, roles: tuple[str, ...]) -> dict[str, Any]:
        group = self._group(["model_weights", layer.name], f"{layer} weights")
        names = self.strings(group, "weight_names", f"{layer} weight_names")
        by_role = {name.rsplit("/", 1)[-1].removesuffix(":0"): name for name in names}
        if sorted(by_role) != sorted(roles) or len(by_role) != len(names):
            shown = ", ".join(map(quote, names[:5]))
            self.fail(f"{layer} weight_names [{shown}], expected {', '.join(roles)}")
        return {role: self._walk(group, by_role[role].split("/"), f"{layer} {role}") for role in roles}

    # -- HDF5, carefully --------------------------------------------------------------
    def _group(self, path: list[str], what: str) -> Any:
        group = self._walk(self.weights, path, what)
        if not isinstance(group, _h5py().Group):
            self.fail(f"{what} {quote('/'.join(path))} is not an HDF5 group")
        return group

    def _walk(self, group: Any, path: list[str], what: str) -> Any:
        for name in path:
            if not isinstance(group, _h5py().Group):
                self.fail(f"{what}: {quote('/'.join(path))} passes through a dataset")
            group = self._child(group, name, what)
        return group

    def _child(self, group: Any, name: str, what: str) -> Any:
        """``group[name]`` if it is a hard link: soft and external links could lead anywhere."""
        h5py = _h5py()
        if not name or name in (".", "..") or "/" in name:
            self.fail(f"{what}: {quote(name)} cannot name an HDF5 object")
        link = group.get(name, getlink=True)
        where = quote(f"{group.name}/{name}")
        if link is None:
            self.fail(f"{what}: {where} is missing")
        if not isinstance(link, h5py.HardLink):
            self.fail(f"{what}: {where} is a {type(link).__name__}, expected data in the file")
        return group[name]

    def _array(self, dataset: Any, what: str, shape: tuple) -> np.ndarray:
        """A float dataset of ``shape`` (None: any size in 1..MAX_SIZE), as float32."""
        if not isinstance(dataset, _h5py().Dataset):
            self.fail(f"{what} is not an HDF5 dataset")
        if dataset.is_virtual or dataset.external:
            self.fail(f"{what} keeps its data outside the file (virtual or external storage)")
        found = tuple(dataset.shape) if dataset.shape is not None else ()
        ok = len(found) == len(shape) and all(
            (1 <= f <= MAX_SIZE) if s is None else f == s for f, s in zip(found, shape, strict=True)
        )
        if not ok:
            expected = ", ".join("1..512" if s is None else str(s) for s in shape)
            self.fail(f"{what} has shape {list(found)}, expected ({expected})")
        if dataset.dtype.kind != "f" or dataset.dtype.itemsize not in FLOAT_SIZES:
            self.fail(f"{what} holds {quote(str(dataset.dtype))[1:-1]} values, expected floats")
        values = np.asarray(dataset[()], dtype=np.float64)
        return values.reshape(found).astype(np.float32)

    def strings(self, obj: Any, name: str, what: str) -> list[str]:
        """A string or list-of-strings attribute, its size checked before it is read."""
        if name not in obj.attrs:
            self.fail(f"{what} is missing")
        shape = obj.attrs.get_id(name).shape or ()
        if math.prod(shape) > MAX_NAMES or len(shape) > 1:
            self.fail(f"{what} has shape {list(shape)}, expected at most {MAX_NAMES} names")
        value = obj.attrs[name]
        items = [value] if isinstance(value, str | bytes) else list(np.asarray(value).reshape(-1))
        if not all(isinstance(v, str | bytes) for v in items):
            self.fail(f"{what} is not text")
        return [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else v for v in items]


def _decode_json(where: str, what: str, raw: bytes, limit: int) -> object:
    if len(raw) > limit:
        raise EdgeGruError(f"{where}: {what} is larger than {limit} bytes, more than a GRU model's")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # RecursionError: lists nested thousands deep
        raise EdgeGruError(f"{where}: {what} is not valid JSON") from None


def _version(value: object) -> str | None:
    return one_line(str(value))[:MAX_VERSION_CHARS] if isinstance(value, str | bytes) and value else None


def _read_member(archive: zipfile.ZipFile, where: str, name: str, limit: int, required: bool) -> bytes | None:
    """A zip member's bytes, reading at most ``limit`` + 1 whatever its header claims."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        if required:
            raise EdgeGruError(f"{where}: no {name} inside; expected a Keras .keras archive") from None
        return None
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise EdgeGruError(f"{where}: {name} is larger than {limit} bytes, more than a GRU model's")
    return data


@contextmanager
def open_keras(path: Path) -> Iterator[KerasFile]:
    """Open a .keras or .h5 file (told apart by content, not by name) for reading."""
    where = str(path)
    if not path.is_file():
        raise EdgeGruError(f"{where}: no such file")
    kind = file_kind(path)
    if kind is None:
        raise EdgeGruError(f"{where}: not a Keras file (expected a .keras zip or an HDF5 .h5 file)")
    if path.stat().st_size > (MAX_FILE_BYTES + MAX_CONFIG_BYTES if kind == "keras" else MAX_FILE_BYTES):
        raise EdgeGruError(
            f"{where}: larger than any model edgegru takes ({MAX_FILE_BYTES} bytes of weights)"
        )
    h5py = _h5py()
    try:
        if kind == "keras":
            with zipfile.ZipFile(path) as archive:
                if len(archive.infolist()) > MAX_MEMBERS:
                    raise EdgeGruError(f"{where}: more than {MAX_MEMBERS} files inside")
                raw = _read_member(archive, where, "config.json", MAX_CONFIG_BYTES, True) or b""
                config = _decode_json(where, "config.json", raw, MAX_CONFIG_BYTES)
                meta_raw = _read_member(archive, where, "metadata.json", MAX_METADATA_BYTES, False)
                meta = _decode_json(where, "metadata.json", meta_raw, MAX_METADATA_BYTES) if meta_raw else {}
                weights = _read_member(archive, where, "model.weights.h5", MAX_FILE_BYTES, True)
            version = _version(meta.get("keras_version")) if isinstance(meta, dict) else None
            with h5py.File(io.BytesIO(weights), "r") as store:
                yield KerasFile(where, config, version, store, legacy=False)
        else:
            with h5py.File(path, "r") as store:
                keras_file = KerasFile(where, None, None, store, legacy=True)
                if "model_config" not in store.attrs:
                    keras_file.fail(
                        "no model_config: the file holds weights only; save the whole model "
                        "(model.save('m.keras') or model.save('m.h5'))"
                    )
                text = keras_file.strings(store, "model_config", "model_config")
                if len(text) != 1 or len(text[0]) > MAX_CONFIG_BYTES:
                    keras_file.fail(f"model_config is not one text of at most {MAX_CONFIG_BYTES} bytes")
                keras_file.config = _decode_json(where, "model_config", text[0].encode(), MAX_CONFIG_BYTES)
                keras_file.version = _version(store.attrs.get("keras_version"))
                yield keras_file
    except EdgeGruError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise EdgeGruError(f"{where}: damaged .keras archive ({type(exc).__name__})") from None
    except (OSError, KeyError, ValueError, TypeError, OverflowError, RuntimeError) as exc:
        # what h5py raises for damaged HDF5 data (RuntimeError, OverflowError included)
        raise EdgeGruError(f"{where}: damaged or unreadable HDF5 data ({type(exc).__name__})") from None
