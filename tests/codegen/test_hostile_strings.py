"""Strings from model and data files reach the generated C only as string literals or comment text.

Each input format carries a payload that would compile into a constructor calling system() if it
were pasted into the C as is. The generated files must hold none of it as code: they compile under
the strict flags, their objects define no ``pwn`` and call no ``system``, and the class names the C
returns are the UTF-8 bytes of the names in the file.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgegru.cli.main import main
from edgegru.codegen.ctext import MAX_C_STRING
from edgegru.codegen.export import export_c
from edgegru.codegen.layout import LAYOUTS
from edgegru.codegen.render import render_harness
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import STRICT_FLAGS, run_tool
from edgegru.data import load_dataset
from edgegru.nn.model import Model
from edgegru.nn.synthetic import random_model
from edgegru.onnx.exporter import export_onnx
from edgegru.onnx.importer import import_onnx
from edgegru.quant import calibrate, quantize
from edgegru.quant.qmodel import QuantizedModel
from tests.helpers import PAYLOAD, make_qmodel, rewrite_meta

PREFIX = "m"
# line breaks as C, the trigraph ??/, a backslash, Unicode and a NUL can spell them
BREAKS = ("\n", "\r", "\r\n", "??/\n", "\\\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x00")
SHORT = '*/\n#include <stdlib.h>\nvoid pwn(void){system("x");}\n/*'  # within a data label's 64 characters
PAYLOADS = [text.replace("\n", brk) for text in (PAYLOAD, SHORT) for brk in BREAKS]
# class names may hold anything but NUL (a C string would end there; models refuse it)
NAMES = [p for p in PAYLOADS if "\x00" not in p] + ["€54", "ñandú", "😀", "中文", '"\\', "??=", "*/", "/*"]
# one token each (.ts labels are separated by white space and may not hold ':')
TOKENS = ["*/#include<stdlib.h>/*", "??/", "\\", '"', "€54", "ñ", "😀", "x*/int(pwn)=system(0);/*"]
# .csv and .npz labels: printable text of up to 64 characters (the loaders refuse more)
LABELS = [*TOKENS, SHORT.replace("\n", " "), "a,b", " ??/ "]
METADATA = {"source": PAYLOAD, PAYLOAD: PAYLOAD, "nested": {"source": PAYLOAD, "list": PAYLOADS}}
HOSTILE_FILE = "data *\n#include <stdlib.h>\n\u2028??=\\\n"  # a file name cannot hold '/'
PROGRAM = """#include <stdio.h>
#include "m.h"

int main(void)
{
    for (int c = 0; c < M_NUM_CLASSES; ++c) {
        for (const char *s = m_class_names[c]; *s != 0; ++s) {
            printf("%02x", (unsigned)(unsigned char)*s);
        }
        printf("\\n");
    }
    return 0;
}
"""


def _model(names: list[str], source: str = PAYLOAD) -> Model:
    """A small classification model named as a training run on a hostile file would name it."""
    model = random_model(2, [3], "reset_after", "classification", output_size=len(names), seed=1)
    assert model.head is not None
    model.head.class_names = list(names)
    model.metadata = {**METADATA, "source": source}
    return model


def _quantize(model: Model) -> QuantizedModel:
    x = np.random.default_rng(0).normal(size=(4, 10, model.input_size))
    return quantize(model, calibrate(model, x))


def _compile(directory: Path, *args: str) -> None:
    run_tool(["gcc", *STRICT_FLAGS, *args], f"compile the generated C in {directory.name}")


def _assert_inert(qm: QuantizedModel, directory: Path, names: list[str] | None = None) -> None:
    """Export both layouts; the C compiles, defines and calls nothing of the payload, and
    returns as class names the UTF-8 bytes of ``names`` (default: the head's)."""
    assert qm.head is not None
    expected = [name.encode("utf-8").hex() for name in names or qm.head.class_names or []]
    for layout in LAYOUTS:
        out = directory / layout
        export_c(qm, out, PREFIX, layout)
        for name in (f"{PREFIX}.h", f"{PREFIX}.c", f"{PREFIX}_weights.h"):
            text = (out / name).read_text()
            assert text.isascii() and all(c == "\n" or " " <= c <= "~" for c in text), name
            assert not any(payload in text for payload in PAYLOADS), name
        (out / "main.c").write_text(PROGRAM)
        _compile(out, "-c", str(out / f"{PREFIX}.c"), "-o", str(out / "m.o"))
        symbols = run_tool(["nm", str(out / "m.o")], "list the object's symbols").split()
        assert "pwn" not in symbols and "system" not in symbols
        assert f"{PREFIX}_class_names" in symbols  # nm saw the model
        _compile(out, str(out / "main.c"), str(out / "m.o"), "-o", str(out / "main"))
        assert run_tool([str(out / "main")], "run the class name printer").split("\n")[:-1] == expected


def test_float_model_file(tmp_path):
    path = tmp_path / "float.npz"
    _model(NAMES).save(path)
    _assert_inert(_quantize(Model.load(path)), tmp_path)


def test_quantised_model_file(tmp_path):
    path = tmp_path / "q.npz"  # rewrite_meta writes .npz files
    make_qmodel(2, [3], "reset_before", "classification", 8).save(path)
    qm = QuantizedModel.load(path)
    assert qm.head is not None
    head = {
        "kind": "classification",
        "weight_scale": qm.head.weight_scale,
        "class_names": [PAYLOADS[0], PAYLOADS[3], "€54"],
    }
    rewrite_meta(path, metadata={"source_model": METADATA, PAYLOAD: PAYLOADS}, head=head)
    _assert_inert(QuantizedModel.load(path), tmp_path)


def test_classes_without_names_are_named_by_index(tmp_path):
    """A classification head without names (an ONNX file may have none) still gets one
    string per class, class_0, class_1, ...: an empty initialiser is not C99."""
    qm = make_qmodel(2, [3], "reset_after", "classification")
    assert qm.head is not None
    qm.head.class_names = None
    _assert_inert(qm, tmp_path, ["class_0", "class_1", "class_2"])


def test_quantised_model_file_through_the_cli(tmp_path):
    path = tmp_path / "q.npz"
    _quantize(_model(NAMES)).save(path)
    assert main(["export", str(path), "--target", "c99", "-o", str(tmp_path / "c")]) == 0
    assert not any(payload in p.read_text() for p in (tmp_path / "c").iterdir() for payload in PAYLOADS)


@pytest.mark.parametrize(
    "head",
    [
        {"kind": PAYLOAD},
        {"kind": "classification", "class_names": PAYLOAD},
        {"kind": "classification", "class_names": [PAYLOAD]},
        {"kind": "classification", "class_names": [1, 2, 3]},
        {"kind": "classification", "class_names": ["€" * (MAX_C_STRING // 3 + 1), "b", "c"]},
    ],
)
def test_quantised_head_fields_that_cannot_be_rendered(tmp_path, head):
    """A head kind outside the enumeration, or names that are not one string literal per class,
    are one EdgeGruError (on load or on export), never C."""
    path = tmp_path / "q.npz"
    make_qmodel(2, [3], "reset_after", "classification").save(path)
    rewrite_meta(path, head={"weight_scale": 0.01, **head})
    with pytest.raises(EdgeGruError):
        export_c(QuantizedModel.load(path), tmp_path / "c", PREFIX)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("owner", "field", "value", "message"),
    [
        ("model", "variant", PAYLOAD, "variant 'x */\\n#include"),
        ("head", "kind", PAYLOAD, "head kind 'x */\\n#include"),
        ("head", "class_names", PAYLOAD, "expected a list of 3 strings"),
        ("head", "class_names", ["a", "b"], "expected a list of 3 strings"),
        ("head", "class_names", ["a", "b", 3], "expected a list of 3 strings"),
        ("head", "class_names", ["a", "b", "€" * (MAX_C_STRING // 3 + 1)], "class name 2: 4098 bytes"),
    ],
)
def test_render_refuses_what_no_loader_passes(tmp_path, owner, field, value, message):
    """The generator does not rely on the loaders: it renders enumerated fields only in its own
    spelling, and class names only as one string literal each that every C99 compiler takes."""
    qm = make_qmodel(2, [3], "reset_after", "classification")
    setattr(qm.head if owner == "head" else qm, field, value)
    with pytest.raises(EdgeGruError, match=re.escape(message)):
        export_c(qm, tmp_path / "c", PREFIX)
    assert not (tmp_path / "c").exists()


def test_onnx_file(tmp_path):
    path = tmp_path / f"{HOSTILE_FILE}.onnx"
    export_onnx(_model(NAMES), path)  # the class names go into metadata_props edgegru.class_names
    proto = onnx.load(str(path))
    proto.producer_name = PAYLOAD
    proto.graph.name = PAYLOAD
    for node in proto.graph.node:
        node.name = PAYLOAD
    onnx.save(proto, str(path))
    model = import_onnx(path)
    assert model.head is not None and model.head.class_names == NAMES
    _assert_inert(_quantize(model), tmp_path)


def _write_ts(path: Path) -> None:
    cases = "\n".join(f"0.{i},0.5,0.{i}:1.0,0.{i},0.2:{label}" for i, label in enumerate(TOKENS))
    path.write_text(
        "@problemName hostile\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n"
        f"@equalLength true\n@seriesLength 3\n@classLabel true {' '.join(TOKENS)}\n@data\n{cases}\n",
        encoding="utf-8",
    )


def _write_csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sequence", "step", "a", "b", "label"])
        for i, label in enumerate(LABELS):
            writer.writerow([f"s{i}", 0, 0.1 * i, 0.5, label])
            writer.writerow([f"s{i}", 1, 0.2, 0.1 * i, ""])


def _write_npz(path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(len(LABELS), 4, 2))
    np.savez(path, X=x, y=np.arange(len(LABELS)), class_names=np.array(LABELS))


@pytest.mark.parametrize(
    ("suffix", "write"), [(".ts", _write_ts), (".csv", _write_csv), (".npz", _write_npz)]
)
def test_data_file_labels(tmp_path, suffix, write):
    """Training names the head's classes with the data set's class_names and records its source."""
    path = tmp_path / f"{HOSTILE_FILE}{suffix}"
    write(path)
    data = load_dataset(path)
    assert data.class_names is not None and len(data.class_names) >= len(TOKENS)
    _assert_inert(_quantize(_model(data.class_names, source=data.source)), tmp_path)


@pytest.mark.parametrize("prefix", [PAYLOAD, "m\n", "m */", "m;int pwn", "ñ", "m\x00", "m" * 65])
def test_hostile_prefix_is_refused(tmp_path, prefix):
    qm = make_qmodel(2, [3], "reset_after", "classification")
    with pytest.raises(EdgeGruError, match="expected a C identifier"):
        export_c(qm, tmp_path / "c", prefix)
    with pytest.raises(EdgeGruError, match="expected a C identifier"):
        render_harness(qm, prefix)
    assert not (tmp_path / "c").exists()
