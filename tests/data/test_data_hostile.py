"""Data files from strangers: every bad input is one EdgeGruError line, in bounded memory and time.

Each reader (``.ts``, ``.csv``, ``.npz``, series) is given what a careless or hostile file
holds: sizes declared far beyond the caps of edgegru.data.limits, gigantic lines, zip
bombs, pickled arrays, labels with control characters, bytes that are not UTF-8, numbers
float32 cannot hold. The fuzz tests at the end feed arbitrary and mutated files to every
reader; the CI profile runs a bounded number of examples, a longer session is
``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/data/test_data_hostile.py -k fuzz``.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgegru.core.errors import EdgeGruError
from edgegru.data import Dataset, forecast_windows, load_dataset, load_series
from edgegru.data.limits import MAX_CASE_LINE_BYTES, MAX_LABEL_CHARS, MAX_ROW_BYTES, MAX_STEPS, MAX_VALUES

MIB = 2**20
TS_HEADER = "@problemName t\n@dimensions 2\n@classLabel true a b\n@data\n"
CSV_HEADER = "sequence,step,u,v,label\n"


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def load(path: Path) -> object:
    """The reader a user reaches for this file: series for s.csv and .dat, else load_dataset."""
    if path.name.startswith("series") or path.suffix == ".dat":
        return load_series(path)
    return load_dataset(path)


def refused(path: Path, *fragments: str, call: Callable[[], object] | None = None) -> str:
    """Loading ``path`` fails with one printable line naming the file and each fragment."""
    with pytest.raises(EdgeGruError) as info:
        (call or (lambda: load(path)))()
    message = str(info.value)
    assert message.isprintable(), message
    for fragment in (path.name, *fragments):
        assert fragment in message, message
    return message


def peak_while_refused(path: Path, *fragments: str, call: Callable[[], object] | None = None) -> int:
    """Bytes allocated at the peak (tracemalloc: Python objects and NumPy data) while refusing."""
    tracemalloc.start()
    try:
        refused(path, *fragments, call=call)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def npy(shape: tuple[int, ...], descr: object = "<f8", data: bytes = b"", fortran: bool = False) -> bytes:
    """A .npy member: a header declaring ``shape`` and ``descr``, then ``data`` (any length)."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return out.getvalue() + data


def npz(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


X_OK = npy((2, 3), "<f8", np.zeros(6).tobytes())
Y_OK = npy((2,), "<i8", np.array([0, 1]).tobytes())


# --- labels ------------------------------------------------------------------------


def test_ts_duplicate_class_label_is_refused(tmp_path):
    path = write(tmp_path / "dup.ts", "@classLabel true a b a\n@data\n1:a\n")
    refused(path, "line 1", "class label 'a' is listed twice")


@pytest.mark.parametrize(
    ("name", "text", "fragments"),
    [
        ("ctl.ts", "@classLabel true a\x01b c\n@data\n1:c\n", ("line 1", "'a\\x01b'", "U+0001")),
        ("long.ts", f"@classLabel true {'x' * 65}\n@data\n1:c\n", ("line 1", "65 characters", "at most 64")),
        ("ctl.csv", CSV_HEADER + "s,0,1,2,a\x1b[2J\n", ("line 2", "'a\\x1b[2J'", "U+001B")),
        ("sep.csv", CSV_HEADER + "s,0,1,2,a\u2028b\n", ("line 2", "U+2028")),
        ("long.csv", CSV_HEADER + f"s,0,1,2,{'y' * 65}\n", ("line 2", "65 characters")),
        ("multi.csv", CSV_HEADER + 's,0,1,2,"a\nb"\n', ("line 2", "malformed CSV")),
    ],
)
def test_text_labels_must_be_short_and_printable(tmp_path, name, text, fragments):
    refused(write(tmp_path / name, text), *fragments)


def test_printable_unicode_labels_up_to_the_cap_are_kept(tmp_path):
    names = ["ñandú", "😀 wave", "中文", "z" * MAX_LABEL_CHARS]
    rows = "".join(f"s{i},0,1,2,{label}\n" for i, label in enumerate(names))
    data = load_dataset(write(tmp_path / "ok.csv", CSV_HEADER + rows))
    assert sorted(data.class_names) == sorted(names)


def test_label_from_the_file_is_quoted_in_messages(tmp_path):
    path = write(tmp_path / "esc.ts", TS_HEADER + "1:2:\x1b[31mred\n")
    message = refused(path, "line 5", "'\\x1b[31mred' is not one of ['a', 'b']")
    assert "\x1b" not in message


@pytest.mark.parametrize(
    ("y", "extra", "fragments"),
    [
        (npy((2,), "|S3", b"a\xff\x00b\x00\x00"), {}, ("y[0]", "not UTF-8")),
        (npy((2,), "<U2", "a\nbc".encode("utf-32-le")), {}, ("y[0]", "U+000A")),
        (npy((2,), "<U1", "a".encode("utf-32-le") + b"\0" * 4), {}, ("y[1]", "the label is empty")),
        (npy((2,), "<U65", b"\0" * 520), {}, ("array y", "the string size is 260", "64 characters")),
        (npy((2,), "|O", b"\0" * 16), {}, ("array y", "Python objects", "pickle")),
        (
            Y_OK,
            {"class_names.npy": npy((2,), "<U1", "aa".encode("utf-32-le"))},
            ("class_names[1]", "'a'", "repeats"),
        ),
    ],
)
def test_npz_labels(tmp_path, y, extra, fragments):
    refused(npz(tmp_path / "lab.npz", {"X.npy": X_OK, "y.npy": y, **extra}), *fragments)


def test_npz_numeric_and_string_labels_are_read_as_today(tmp_path):
    path = tmp_path / "num.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.array([10, 9, 10]))
    assert load_dataset(path).class_names == ["9", "10"]
    np.savez(path, X=np.zeros((2, 2)), y=np.array(["ñ", "😀"]))
    assert load_dataset(path).class_names == ["ñ", "😀"]


def test_npz_pickled_object_array_is_refused_by_name(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, X=np.zeros((2, 3)), y=np.array(["a", 1], dtype=object))
    refused(path, "array y", "dtype object")


# --- declared sizes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "fragments"),
    [
        ("@dimensions 100000\n", ("line 1", "'@dimensions' is 100,000", "cap of 512 channels")),
        ("@equalLength true\n@seriesLength 5000000\n", ("line 2", "5,000,000", "1,000,000 steps")),
        (f"@seriesLength {'9' * 5000}\n", ("line 1", "cap of 1,000,000 steps")),
        ("@dimensions ²\n", ("line 1", "positive integer", "'²'")),
        ("@\n", ("line 1", "unknown header '@'")),
        (f"@classLabel true {' '.join(map(str, range(1025)))}\n", ("line 1", "cap of 1,024 classes")),
    ],
)
def test_ts_header_beyond_caps_or_malformed(tmp_path, header, fragments):
    refused(write(tmp_path / "hdr.ts", header + "@classLabel true a\n@data\n1:a\n"), *fragments)


def test_ts_channel_count_is_capped_before_parsing(tmp_path):
    refused(write(tmp_path / "wide.ts", TS_HEADER + "1:" * 600 + "a\n"), "line 5", "600", "512 channels")


def test_ts_case_longer_than_the_step_cap(tmp_path):
    path = write(tmp_path / "long.ts", "@classLabel true a\n@data\n" + "0," * MAX_STEPS + "0:a\n")
    assert peak_while_refused(path, "line 3", "sequence length is 1,000,001") < 64 * MIB


def test_ts_padded_size_is_capped_case_by_case(tmp_path):
    """One 1,000,000-step case and 300 short ones would pad to 1.2 GiB of float32."""
    text = "@classLabel true a\n@data\n" + ",".join(["0"] * MAX_STEPS) + ":a\n" + "0:a\n" * 300
    path = write(tmp_path / "pad.ts", text)
    cases = MAX_VALUES // MAX_STEPS + 1
    peak = peak_while_refused(path, f"line {2 + cases}", f"padded size {cases} x {MAX_STEPS} x 1", "values")
    assert peak < 64 * MIB


def test_csv_step_index_of_a_trillion_allocates_nothing(tmp_path):
    path = write(tmp_path / "step.csv", CSV_HEADER + "s,1000000000000,1,2,a\n")
    assert peak_while_refused(path, "line 2", "step '1000000000000'", "expected 0") < MIB


def test_csv_padded_size_is_capped_row_by_row(tmp_path):
    """512 channels, one case of 2,048 steps, then 257 one-step cases: 2**28 values and more."""
    header = "sequence,step," + ",".join(f"c{i}" for i in range(512)) + ",label\n"
    values = ",".join(["0"] * 512)
    long_case = "".join(f"s,{t},{values},a\n" for t in range(2048))
    short = "".join(f"t{i},0,{values},a\n" for i in range(257))
    path = write(tmp_path / "pad.csv", header + long_case + short)
    peak = peak_while_refused(path, "line 2305", "padded size 257 x 2048 x 512")
    assert peak < 64 * MIB


@pytest.mark.parametrize(
    ("header", "fragments"),
    [
        ("sequence,step," + ",".join(f"c{i}" for i in range(600)) + ",label\n", ("600", "512 channels")),
        ("sequence,step,c," + ",".join(f"target{i}" for i in range(1025)) + "\n", ("1,025", "targets")),
        ("sequence,step,c,c,label\n", ("duplicate column(s) ['c']",)),
    ],
)
def test_csv_header_beyond_caps(tmp_path, header, fragments):
    refused(write(tmp_path / "cols.csv", header), *fragments)


def test_npz_declared_huge_shape_is_refused_from_the_header(tmp_path):
    path = npz(tmp_path / "huge.npz", {"X.npy": npy((1000, 100_000, 512), "<f4"), "y.npy": Y_OK})
    peak = peak_while_refused(path, "array X", "padded size 1000 x 100000 x 512", "268,435,456 values")
    assert peak < MIB


@pytest.mark.parametrize(
    ("members", "fragments"),
    [
        (
            {"X.npy": npy((2, 3), "<f8", b"\0" * 47)},
            ("array X", "zip directory gives 175 bytes", "implies 176"),
        ),
        ({"X.npy": npy((2, 3, 4, 5), "<f8")}, ("array X", "expected (N, T, D)")),
        (
            {"X.npy": npy((2, -3), "<f8")},
            (
                "array X",
                "shape (2, -3)",
            ),
        ),
        ({"X.npy": npy((2, 3), [("a\n", "<f8")], b"\0" * 48)}, ("array X", "dtype '|V8'", "numbers")),
        ({"X.npy": npy((2, 3), "<M8[s]", b"\0" * 48)}, ("array X", "dtype '<M8[s]'")),
        ({"X.npy": npy((2, 10**40), "<f4")}, ("array X", "over 10^24")),
        ({"X.npy": X_OK, "X": X_OK}, ("array 'X' appears twice",)),
        ({"X.npy": X_OK, "evil.npy": X_OK}, ("unexpected array(s) ['evil']",)),
        ({"X.npy": b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{"}, ("array X", "not a valid .npy header")),
        ({"X.npy": b"\x93NUMPY\x03\x00" + X_OK[8:]}, ("array X", "version (3, 0)")),
        ({"X.npy": b"\x93NUMPY\x01\x00\x10\x00" + b"(" * 16}, ("array X", "not a valid .npy header")),
        ({"X.npy": npy((2, 3), "<f8", np.full(6, 1e39).tobytes())}, ("X[0, 0, 0]", "float32 range")),
        ({"X.npy": npy((2, 3), "<f8", np.full(6, np.inf).tobytes())}, ("X[0, 0, 0] is inf",)),
    ],
)
def test_npz_members_checked_before_reading(tmp_path, members, fragments):
    refused(npz(tmp_path / "bad.npz", {"y.npy": Y_OK, **members}), *fragments)


def test_npz_zip_bomb_is_read_only_to_its_declared_size(tmp_path):
    """A member whose data inflates to 64 MiB while the zip directory declares 176 bytes."""
    header = npy((2, 3), "<f8")
    path = npz(
        tmp_path / "bomb.npz", {"X.npy": header + bytes(64 * MIB), "y.npy": Y_OK}, zipfile.ZIP_DEFLATED
    )
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, raw.index(b"PK\x01\x02") + 24, len(header) + 48)  # uncompressed size
    write(path, bytes(raw))
    assert peak_while_refused(path, "not a readable .npz archive", "CRC") < 4 * MIB


def test_npz_single_npy_and_junk(tmp_path):
    single = tmp_path / "single.npz"
    with single.open("wb") as fh:
        np.save(fh, np.zeros(3))
    refused(single, "a single .npy array")
    refused(write(tmp_path / "junk.npz", b"PK\x03\x04" + bytes(40)), "not a readable .npz archive")


def test_series_caps(tmp_path):
    row = " ".join(["1"] * 12)
    years = MAX_STEPS // 12 + 1
    table = write(tmp_path / "long.dat", "".join(f"{1000 + i} {row}\n" for i in range(years)))
    refused(table, f"line {years}", "series length is 1,000,008", "1,000,000 values")
    refused(write(tmp_path / "year.dat", "12345678901234567890 1 2\n"), "line 1", "is not a year")
    refused(write(tmp_path / "wide.dat", "1900" + " 1" * 20 + "\n"), "line 1", "more than 12 values")


def test_forecast_windows_refuses_a_padded_size_beyond_the_cap(tmp_path):
    series = np.zeros(100_000)
    call = lambda: forecast_windows(series, 5000, source="big.csv")  # noqa: E731
    peak = peak_while_refused(tmp_path / "big.csv", "window=5000", "padded size 95000 x 5000 x 1", call=call)
    assert peak < MIB


# --- lines and bytes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prefix", "cap"),
    [
        ("line.ts", TS_HEADER, MAX_CASE_LINE_BYTES),
        ("line.csv", "", MAX_ROW_BYTES),
        ("line.dat", "", MAX_ROW_BYTES),
    ],
)
def test_a_300_mb_line_is_refused_after_the_cap(tmp_path, name, prefix, cap):
    path = write(tmp_path / name, prefix)
    with path.open("r+b") as fh:
        fh.truncate(len(prefix) + 300 * MIB)  # sparse: no disk used, reads give zero bytes
    line = prefix.count("\n") + 1
    peak = peak_while_refused(path, f"line {line}", f"longer than the cap of {cap:,} bytes")
    assert peak < 3 * cap


@pytest.mark.parametrize(
    ("name", "data", "line"),
    [
        ("bytes.ts", TS_HEADER.encode() + b"1:2:a\n\xff1:2:b\n", 6),
        ("bytes.csv", CSV_HEADER.encode() + b"s,0,1,2,\xe9t\xe9\n", 2),
        ("series.csv", b"1\n2\n\xc3(\n", 3),
        ("bytes.dat", b"title \x80\n1900 1 2\n", 1),
    ],
)
def test_non_utf8_bytes_are_one_line_naming_the_line(tmp_path, name, data, line):
    refused(write(tmp_path / name, data), f"line {line}", "not UTF-8 text")


def test_byte_order_mark_is_accepted(tmp_path):
    data = load_dataset(write(tmp_path / "bom.csv", "\ufeff" + CSV_HEADER + "s,0,1,2,a\n"))
    assert data.class_names == ["a"]


@pytest.mark.parametrize(
    ("name", "data", "fragments"),
    [
        ("inf.ts", TS_HEADER + "1,1e999:2,3:a\n", ("line 5 channel 1 value 2", "'1e999' is not finite")),
        ("big.ts", TS_HEADER + "1,2:3,1e39:a\n", ("line 5 channel 2 value 2", "float32 range")),
        ("nan.ts", TS_HEADER + "1,nan:3,4:a\n", ("line 5", "'nan' is not finite")),
        ("big.csv", CSV_HEADER + "s,0,-4e38,2,a\n", ("line 2 value 1", "float32 range")),
        ("series.csv", "1\n1e999\n", ("line 2", "not finite")),
        ("big.dat", "1900 1 2 3e38 4e38\n", ("line 1 value 4", "float32 range")),
    ],
)
def test_values_float32_cannot_hold_are_refused(tmp_path, name, data, fragments):
    refused(write(tmp_path / name, data), *fragments)


def test_no_data_line_or_header_line_raises_anything_else(tmp_path):
    refused(write(tmp_path / "empty.ts", ""), "no '@data' line")
    refused(write(tmp_path / "empty.csv", ""), "empty file")
    refused(write(tmp_path / "quote.csv", CSV_HEADER + 's,0,1,2,"a"b\n'), "line 2", "malformed CSV")


# --- fuzz --------------------------------------------------------------------------

VALID = {
    "v.ts": (TS_HEADER + "0.1,0.2,0.3:1,2,3:a\n4,5:6,7:b\n1:2:a\n").encode(),
    "r.ts": b"@univariate true\n@equalLength true\n@seriesLength 2\n@targetLabel true\n@data\n"
    b"1,2:0.5\n3,4:-1\n",
    "v.csv": (CSV_HEADER + "w,0,0.1,1,walk\nw,1,0.2,1.1,\ni,0,0,0.9,idle\n").encode(),
    "r.csv": b"target_a,x,step,sequence,target_b\n1.5,7,0,s,2\n,8,1,s,\n-1,9,0,t,0\n",
    "series.csv": b"level\n1\n2\n\n3\n4.5\n",
    "v.dat": b"  TITLE\nYear Jan Feb\n1900 1 2 3 4 5 6 7 8 9 10 11 12\n1901 13 14\n",
}
# pieces a mutation inserts: separators, header words, hostile numbers and characters
PIECES = [
    piece.encode()
    for piece in (
        "\n",
        ":",
        ",",
        '"',
        "@data\n",
        "@classLabel true a a\n",
        "@dimensions 99999\n",
        "@seriesLength 0\n",
        "nan",
        "-1e999",
        "3e38",
        "?",
        "٣",
        "1_0",
        "sequence",
        "step",
        "label",
        "target",
        "\x00",
        "\x1b[2J",
        "\u2028",
        "\r",
        "#",
        "@",
        " ",
        "9" * 30,
        "x" * 70,
    )
] + [b"\xff", b"\xc3"]


def valid_npz() -> dict[str, bytes]:
    """Two small archives (classification with class_names, regression), stored uncompressed."""
    out = {}
    for name, arrays in {
        "c.npz": {
            "X": np.arange(12.0).reshape(3, 4),
            "y": np.array([1, 0, 1]),
            "class_names": np.array(["p", "q"]),
        },
        "r.npz": {"X": np.ones((2, 3, 2)), "y": np.array([0.5, 1.5]), "lengths": np.array([3, 1])},
    }.items():
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        out[name] = buffer.getvalue()
    return out


VALID.update(valid_npz())


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def only_dataset_or_one_error(path: Path) -> None:
    """The property every reader keeps: a result or one EdgeGruError line, quickly."""
    start = time.monotonic()
    try:
        result = load(path)
    except EdgeGruError as exc:
        message = str(exc)
        assert message.isprintable() and path.name in message, message
    else:
        assert isinstance(result, (Dataset, np.ndarray))
    assert time.monotonic() - start < 5.0


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` after a few insertions, overwrites, deletions or repetitions."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        piece = draw(st.one_of(st.sampled_from(PIECES), st.binary(min_size=1, max_size=6)))
        kind = draw(st.sampled_from(("insert", "overwrite", "delete", "repeat")))
        if kind == "insert":
            data[pos:pos] = piece
        elif kind == "overwrite":
            data[pos : pos + len(piece)] = piece
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 40))] * draw(st.integers(2, 30))
    return bytes(data)


FUZZ = settings(deadline=None)


@FUZZ
@given(name=st.sampled_from(["a.ts", "a.csv", "a.npz", "series.csv", "a.dat"]), data=st.binary(max_size=400))
def test_fuzz_arbitrary_bytes(fuzz_dir, name, data):
    only_dataset_or_one_error(write(fuzz_dir / name, data))


@FUZZ
@given(name=st.sampled_from(["a.ts", "a.csv", "series.csv", "a.dat"]), text=st.text(max_size=300))
def test_fuzz_arbitrary_text(fuzz_dir, name, text):
    only_dataset_or_one_error(write(fuzz_dir / name, text))


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(VALID)))
def test_fuzz_mutated_valid_files(fuzz_dir, data, name):
    only_dataset_or_one_error(write(fuzz_dir / name, data.draw(mutated(VALID[name]))))


NPY_MEMBERS = {
    "X.npy": npy((3, 4), "<f8", np.arange(12.0).tobytes()),
    "y.npy": npy((3,), "<U2", "ab".encode("utf-32-le") * 3),
    "lengths.npy": npy((3,), "<i8", np.array([4, 1, 2]).tobytes()),
    "class_names.npy": npy((2,), "<U2", "abcd".encode("utf-32-le")),
}


@FUZZ
@given(data=st.data(), member=st.sampled_from(sorted(NPY_MEMBERS)))
def test_fuzz_mutated_npy_members(fuzz_dir, data, member):
    """Archives with intact zip structure (CRCs right) around one mutated .npy member."""
    members = {"X.npy": X_OK, "y.npy": Y_OK, member: data.draw(mutated(NPY_MEMBERS[member]))}
    only_dataset_or_one_error(npz(fuzz_dir / "m.npz", members))


DESCRS = ["<f8", "<f4", ">f2", "<i8", "|u1", "|b1", "<U3", "|S3", "|O", "<c8", "|V4", "<M8[s]", "<U0", "<f16"]


@FUZZ
@given(
    shape=st.lists(st.integers(-2, 5) | st.sampled_from([2**31, 10**12, 10**40]), max_size=4).map(tuple),
    descr=st.sampled_from(DESCRS),
    fortran=st.booleans(),
    key=st.sampled_from(["X", "y", "lengths", "class_names"]),
    payload=st.binary(max_size=120),
)
def test_fuzz_npy_headers(fuzz_dir, shape, descr, fortran, key, payload):
    """Archives whose members declare arbitrary shapes and dtypes over arbitrary data."""
    members = {"X.npy": X_OK, "y.npy": Y_OK, f"{key}.npy": npy(shape, descr, payload, fortran)}
    only_dataset_or_one_error(npz(fuzz_dir / "h.npz", members))
