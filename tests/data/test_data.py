"""Tests for edgegru.data: the three file formats, series, built-in tasks, Dataset helpers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edgegru.core.errors import EdgeGruError
from edgegru.data import BUILTIN_TASKS, Dataset, builtin_dataset, forecast_windows, load_dataset, load_series
from edgegru.data.dataset import valid_mask


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_padding_zero(ds: Dataset) -> None:
    assert not np.any(ds.x[~valid_mask(ds.lengths, ds.x.shape[1])])


def expect_error(path: Path, *fragments: str, **kwargs) -> str:
    """Loading ``path`` fails with one line naming the file and each fragment."""
    with pytest.raises(EdgeGruError) as info:
        load_dataset(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for fragment in (path.name, *fragments):
        assert fragment in message, message
    return message


# --- .ts -------------------------------------------------------------------------

TS_HEADER = """# a comment
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true b a
@data
"""


def test_ts_variable_length_classification(tmp_path):
    path = write(tmp_path, "tiny.ts", TS_HEADER + "1,2,3:4,5,6:a\n7,8:9,10:b\n\n")
    ds = load_dataset(path)
    assert ds.task == "classification"
    assert ds.class_names == ["b", "a"]  # @classLabel order, not sorted
    assert ds.y.tolist() == [1, 0]
    assert ds.lengths.tolist() == [3, 2]
    assert ds.x.shape == (2, 3, 2)
    assert ds.x[0, :, 1].tolist() == [4, 5, 6]
    assert ds.x[1, :2, 0].tolist() == [7, 8]
    assert_padding_zero(ds)
    assert (ds.n, ds.input_size, ds.output_size, ds.source) == (2, 2, 2, "tiny.ts")


def test_ts_regression(tmp_path):
    text = "@univariate true\n@equalLength true\n@seriesLength 2\n@targetLabel true\n@data\n"
    path = write(tmp_path, "reg.ts", text + "1,2:0.5\n3,4:-1.25\n")
    ds = load_dataset(path)
    assert ds.task == "regression"
    assert ds.class_names is None
    assert ds.y.shape == (2, 1)
    assert ds.y[:, 0].tolist() == [0.5, -1.25]


def test_ts_test_file_reuses_training_mapping(tmp_path):
    path = write(tmp_path, "test.ts", TS_HEADER + "1:2:a\n")
    ds = load_dataset(path, class_names=["x", "a", "b"])
    assert ds.class_names == ["x", "a", "b"]
    assert ds.y.tolist() == [1]
    expect_error(path, "'a'", "line 10", class_names=["b", "c"])


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ("1,2:3,4:c\n", ("line 10", "'c'", "['b', 'a']")),  # label not declared
        ("1,2,3:4,5:a\n", ("line 10", "channel 2 has 2 values")),  # lengths inside a case
        ("1,2:3,4:a\n1,2:b\n", ("line 11", "1 channels, expected 2")),  # channel count
        ("1,?:3,4:a\n", ("line 10", "channel 1", "missing value '?'")),
        ("1,NaN:3,4:a\n", ("line 10", "'NaN'", "not finite")),
        ("1,inf:3,4:a\n", ("line 10", "'inf'", "not finite")),
        ("1,x:3,4:a\n", ("line 10", "'x' is not a number")),
        ("1,2:3,4:\n", ("line 10", "label", "empty")),
        ("", ("holds no cases",)),
    ],
)
def test_ts_bad_data(tmp_path, data, fragments):
    expect_error(write(tmp_path, "bad.ts", TS_HEADER + data), *fragments)


@pytest.mark.parametrize(
    ("header", "data", "fragments"),
    [
        ("@timeStamps true\n@classLabel true a\n@data\n", "", ("@timeStamps true",)),
        ("@classLabel false\n@data\n", "1,2\n", ("no labels",)),
        ("@classLabel true a\n", "", ("no '@data'",)),
        ("@classLabel true a\n@colour blue\n@data\n", "1:a\n", ("line 2", "'@colour'")),
        ("@dimensions two\n@classLabel true a\n@data\n", "1:a\n", ("line 1", "positive integer")),
        ("@targetLabel true\n@data\n", "1,2:high\n", ("line 3", "'high' is not a number")),
        ("@targetLabel true\n@data\n", "1,2:?\n", ("line 3", "missing value")),
        (
            "@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n",
            "1,2:a\n",
            ("line 5", "2 values", "'@seriesLength' is 3"),
        ),
        ("@univariate true\n@classLabel true a\n@data\n", "1:2:a\n", ("2 channels, expected 1",)),
        (
            "@classLabel true a\n1,2:a\n@data\n",
            "",
            (
                "line 2",
                "before the '@data'",
            ),
        ),
    ],
)
def test_ts_bad_header(tmp_path, header, data, fragments):
    expect_error(write(tmp_path, "bad.ts", header + data), *fragments)


def test_ts_channel_count_must_match_first_case_without_dimensions_header(tmp_path):
    path = write(tmp_path, "bad.ts", "@classLabel true a\n@data\n1,2:3,4:a\n1,2:a\n")
    expect_error(path, "line 4", "1 channels, expected 2")


def test_ts_regression_refuses_classification_request(tmp_path):
    path = write(tmp_path, "reg.ts", "@targetLabel true\n@data\n1,2:0.5\n")
    expect_error(path, "regression", "'classification'", task="classification")


# --- .csv ------------------------------------------------------------------------

CSV_EXAMPLE = """sequence,step,ax,ay,label
walk1,0,0.1,1.0,walking
walk1,1,0.2,1.1,
walk1,2,0.3,1.2,walking
idle7,0,0.0,0.9,idle
idle7,1,0.0,0.8,
"""


def test_csv_long_layout(tmp_path):
    ds = load_dataset(write(tmp_path, "g.csv", CSV_EXAMPLE))
    assert ds.task == "classification"
    assert ds.class_names == ["idle", "walking"]
    assert ds.y.tolist() == [1, 0]
    assert ds.lengths.tolist() == [3, 2]
    np.testing.assert_allclose(ds.x[0], [[0.1, 1.0], [0.2, 1.1], [0.3, 1.2]], rtol=1e-6)
    np.testing.assert_allclose(ds.x[1, :2], [[0.0, 0.9], [0.0, 0.8]], rtol=1e-6)
    assert_padding_zero(ds)


def test_csv_regression_columns_in_any_order(tmp_path):
    text = "target_a,x,step,sequence,target_b\n1.5,7,0,s,2\n,8,1,s,\n-1,9,0,t,0\n"
    ds = load_dataset(write(tmp_path, "r.csv", text))
    assert ds.task == "regression"
    assert ds.y.tolist() == [[1.5, 2.0], [-1.0, 0.0]]
    assert ds.x[:, :, 0].tolist() == [[7, 8], [9, 0]]
    assert ds.output_size == 2


def test_csv_numeric_labels_sort_numerically(tmp_path):
    text = "sequence,step,v,label\na,0,1,10\nb,0,1,9\nc,0,1,2\n"
    ds = load_dataset(write(tmp_path, "n.csv", text))
    assert ds.class_names == ["2", "9", "10"]
    assert ds.y.tolist() == [2, 1, 0]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("sequence,step,v,label\na,0,1,x\na,2,1,\n", ("line 3", "step '2'", "expected 1")),
        ("sequence,step,v,label\na,1,1,x\n", ("line 2", "step '1'", "expected 0")),
        ("sequence,step,v,label\na,0,1,x\nb,0,1,y\na,1,1,\n", ("line 4", "not consecutive")),
        ("sequence,step,v,label\na,0,1,x\na,1,1,y\n", ("line 3", "differs")),
        ("sequence,step,v,label\na,0,1,\n", ("line 2", "no label")),
        ("sequence,step,v,w,label\na,0,1,2,x\nb,0,1,x\n", ("line 3", "4 fields", "has 5")),
        ("sequence,step,v,label\na,0,nan,x\n", ("line 2", "'nan'", "not finite")),
        ("sequence,step,v,label\na,0,,x\n", ("line 2", "missing value")),
        ("sequence,step,v,label\na,0,one,x\n", ("line 2", "'one' is not a number")),
        ("sequence,step,v,target\na,0,1,high\n", ("line 2", "'high' is not a number")),
        ("sequence,step,v,label\n", ("holds no cases",)),
        ("", ("empty file",)),
        ("sequence,v,label\na,1,x\n", ("'step'",)),
        ("sequence,step,v\na,0,1\n", ("'label' column",)),
        ("sequence,step,label\na,0,x\n", ("no channel",)),
    ],
)
def test_csv_bad_input(tmp_path, text, fragments):
    expect_error(write(tmp_path, "bad.csv", text), *fragments)


# --- .npz ------------------------------------------------------------------------


def write_npz(tmp_path: Path, name: str = "d.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_npz_classification_with_nan_padding(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(3, 4)  # (N, T): one channel
    x[1, 2:] = np.nan  # UCR-style padding after length 2
    path = write_npz(tmp_path, X=x, y=np.array([3, 1, 3]), lengths=np.array([4, 2, 1]))
    ds = load_dataset(path)
    assert ds.x.shape == (3, 4, 1) and ds.x.dtype == np.float32
    assert ds.class_names == ["1", "3"]
    assert ds.y.tolist() == [1, 0, 1]
    assert ds.x[1, :, 0].tolist() == [4, 5, 0, 0]
    assert_padding_zero(ds)


def test_npz_labels_and_class_names(tmp_path):
    x = np.ones((3, 2, 2))
    named = load_dataset(write_npz(tmp_path, X=x, y=np.array(["up", "down", "up"])))
    assert named.class_names == ["down", "up"]
    assert named.y.tolist() == [1, 0, 1]
    indexed = write_npz(tmp_path, "i.npz", X=x, y=np.array([0, 2, 1]), class_names=["z", "y", "x"])
    ds = load_dataset(indexed)
    assert ds.class_names == ["z", "y", "x"] and ds.y.tolist() == [0, 2, 1]
    reused = load_dataset(indexed, class_names=["x", "y", "z"])
    assert reused.y.tolist() == [2, 0, 1]
    expect_error(indexed, "y[1]", "'x'", class_names=["z", "y"])


def test_npz_regression(tmp_path):
    x = np.ones((2, 3, 1))
    one = load_dataset(write_npz(tmp_path, X=x, y=np.array([0.5, 1.5])))
    assert one.task == "regression" and one.y.shape == (2, 1)
    two = load_dataset(write_npz(tmp_path, "c.npz", X=x, y=np.ones((2, 3))))
    assert two.y.shape == (2, 3) and two.output_size == 3
    ints = load_dataset(write_npz(tmp_path, "i.npz", X=x, y=np.array([1, 2])), task="regression")
    assert ints.task == "regression" and ints.y[:, 0].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("arrays", "fragments"),
    [
        ({"X": np.ones((2, 3)), "y": [0, 1], "lengths": [3, 4]}, ("lengths[1] is 4", "1..3")),
        ({"X": np.ones((2, 3)), "y": [0, 1], "lengths": [0, 3]}, ("lengths[0] is 0",)),
        ({"X": np.ones((2, 3)), "y": [0, 1], "lengths": [3]}, ("lengths has shape",)),
        ({"X": np.array([[1, np.nan], [1, 2]]), "y": [0, 1]}, ("X[0, 1, 0]", "nan")),
        ({"X": np.array([[1, 2], [np.inf, 2]]), "y": [0, 1]}, ("X[1, 0, 0]", "inf")),
        ({"X": np.ones((2, 3)), "y": [0.5, np.nan]}, ("y[1]", "nan")),
        ({"X": np.ones((2, 3)), "y": [0, 1, 1]}, ("y has shape (3,)",)),
        ({"X": np.ones((2, 3)), "y": [0, 5], "class_names": ["a", "b"]}, ("y[1] is 5",)),
        ({"X": np.ones((2, 3)), "y": [0.5, 1.0], "class_names": ["a"]}, ("class_names",)),
        ({"X": np.ones((0, 3)), "y": np.zeros(0)}, ("holds no cases",)),
        ({"X": np.ones((2, 3, 1, 1)), "y": [0, 1]}, ("expected (N, T, D)",)),
        ({"X": np.ones((2, 3, 1), dtype=np.float32), "y": [[0], [1]]}, ("(N,) class labels",)),
        ({"x": np.ones((2, 3)), "y": [0, 1]}, ("unexpected array(s) ['x']",)),
        ({"y": [0, 1]}, ("no array 'X'",)),
    ],
)
def test_npz_bad_input(tmp_path, arrays, fragments):
    expect_error(write_npz(tmp_path, "bad.npz", **arrays), *fragments)


def test_npz_not_an_archive(tmp_path):
    expect_error(write(tmp_path, "junk.npz", "not a zip"), "not a readable .npz")


def test_npz_regression_refuses_classification_request(tmp_path):
    path = write_npz(tmp_path, X=np.ones((2, 3)), y=np.array([0.5, 1.0]))
    expect_error(path, "regression", "'classification'", task="classification")


# --- dispatch --------------------------------------------------------------------


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(EdgeGruError, match=r"nope\.ts: no such file"):
        load_dataset(tmp_path / "nope.ts")
    expect_error(write(tmp_path, "data.json", "{}"), "unknown dataset format '.json'")
    with pytest.raises(EdgeGruError, match="not a file"):
        load_dataset(tmp_path)


def test_class_names_refused_for_regression(tmp_path):
    path = write_npz(tmp_path, X=np.ones((2, 3)), y=np.array([0.5, 1.0]))
    expect_error(path, "class names", class_names=["a"])


def test_unknown_task_name(tmp_path):
    path = write_npz(tmp_path, X=np.ones((2, 3)), y=np.array([0, 1]))
    with pytest.raises(EdgeGruError, match="task 'forecast'"):
        load_dataset(path, task="forecast")


# --- Dataset helpers -------------------------------------------------------------


def test_split_is_stratified_disjoint_and_deterministic():
    ds = builtin_dataset("gestures", 50, seed=3)
    train, val = ds.split(0.2, seed=7)
    assert (train.n, val.n) == (40, 10)
    assert np.bincount(val.y, minlength=5).tolist() == [2, 2, 2, 2, 2]
    again_train, again_val = ds.split(0.2, seed=7)
    np.testing.assert_array_equal(val.x, again_val.x)
    np.testing.assert_array_equal(train.y, again_train.y)
    together = np.concatenate([train.x, val.x]).reshape(ds.n, -1)
    assert len(np.unique(together, axis=0)) == ds.n  # every case exactly once
    _, other = ds.split(0.2, seed=8)
    assert not np.array_equal(other.x, val.x)


def test_split_regression_and_limits():
    ds = builtin_dataset("adding", 10, seed=0)
    train, val = ds.split(0.3, seed=0)
    assert (train.n, val.n) == (7, 3)
    with pytest.raises(EdgeGruError, match="fraction"):
        ds.split(1.0, seed=0)
    single = ds.subset([4])
    assert single.n == 1 and np.array_equal(single.x[0], ds.x[4])
    with pytest.raises(EdgeGruError, match="too few"):
        single.split(0.5, seed=0)


def test_dataset_rejects_nonzero_padding():
    x = np.ones((1, 3, 1), dtype=np.float32)
    with pytest.raises(EdgeGruError, match="not zero after"):
        Dataset(x, np.array([2]), np.array([0]), "classification", ["a"], "hand-made")


# --- built-in tasks --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN_TASKS))
def test_builtin_is_deterministic_and_zero_padded(name):
    a = builtin_dataset(name, 40, seed=5)
    b = builtin_dataset(name, 40, seed=5)
    c = builtin_dataset(name, 40, seed=6)
    for field in ("x", "lengths", "y"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x, c.x)
    assert a.n == 40 and a.source.startswith(f"builtin:{name}")
    assert_padding_zero(a)


def test_adding_problem_structure():
    ds = builtin_dataset("adding", 200, seed=1, length=30)
    assert ds.x.shape == (200, 30, 2) and ds.task == "regression" and ds.output_size == 1
    values, marks = ds.x[:, :, 0], ds.x[:, :, 1]
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert np.all(marks.sum(axis=1) == 2)
    assert np.all(marks[:, :15].sum(axis=1) == 1) and np.all(marks[:, 15:].sum(axis=1) == 1)
    np.testing.assert_allclose(ds.y[:, 0], (values * marks).sum(axis=1), rtol=1e-6)
    assert builtin_dataset("adding", 3, seed=1).x.shape[1] == 50


def test_gestures_structure():
    ds = builtin_dataset("gestures", 100, seed=2)
    assert ds.task == "classification" and ds.input_size == 3 and ds.output_size == 5
    assert np.bincount(ds.y).tolist() == [20] * 5
    assert ds.lengths.min() >= 40 and ds.lengths.max() <= 80
    assert len(np.unique(ds.lengths)) > 10


def test_builtin_bad_requests():
    with pytest.raises(EdgeGruError, match="'spiral': unknown"):
        builtin_dataset("spiral", 10, seed=0)
    with pytest.raises(EdgeGruError, match=r"'gestures'.*length"):
        builtin_dataset("gestures", 10, seed=0, length=20)
    with pytest.raises(EdgeGruError, match="n is 0"):
        builtin_dataset("adding", 0, seed=0)
    with pytest.raises(EdgeGruError, match="length 1"):
        builtin_dataset("adding", 5, seed=0, length=1)


# --- series ----------------------------------------------------------------------


def test_series_csv_and_windows(tmp_path):
    series = load_series(write(tmp_path, "s.csv", "level\n1\n2\n\n3\n4.5\n"))
    assert series.dtype == np.float64 and series.tolist() == [1, 2, 3, 4.5]
    ds = forecast_windows(series, 2)
    assert ds.x[:, :, 0].tolist() == [[1, 2], [2, 3]]
    assert ds.y[:, 0].tolist() == [3, 4.5]
    assert ds.task == "regression" and ds.lengths.tolist() == [2, 2]
    with pytest.raises(EdgeGruError, match="window 4"):
        forecast_windows(series, 4)


TABLE = "  TITLE\nYear Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec\n----\n"
ROW = " 1.0  2.0  3.0  4.0  5.0  6.0  7.0  8.0  9.0 10.0 11.0 12.0\n"


def test_series_table_allows_short_last_row(tmp_path):
    text = TABLE + "1900" + ROW + "\n1901 13 14\nNote: preliminary.\n"
    assert load_series(write(tmp_path, "t.dat", text)).tolist() == list(range(1, 15))


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("t.dat", TABLE + "1900" + ROW + "1902" + ROW, " line 5: year 1902 follows 1900"),
        ("t.dat", TABLE + "1900 1 2\n1901" + ROW, " line 5: the row for 1900 has 2 values"),
        ("t.dat", TABLE + "1900 1 ? 3\n", " line 4 value 2: missing value"),
        ("t.dat", TABLE, ": no rows"),
        ("s.csv", "a\n1\nx\n", " line 3: 'x' is not a number"),
        ("s.csv", "1,2\n", " line 1: several columns"),
        ("s.csv", "value\n", ": holds no values"),
    ],
)
def test_series_bad_input(tmp_path, name, text, fragment):
    with pytest.raises(EdgeGruError, match=re.escape(name + fragment)):
        load_series(write(tmp_path, name, text))


def test_series_missing_file(tmp_path):
    with pytest.raises(EdgeGruError, match="no such file"):
        load_series(tmp_path / "none.csv")


# --- the shared public datasets --------------------------------------------------


@pytest.mark.shared_data
def test_basic_motions_train_and_test(shared):
    train = load_dataset(shared / "BasicMotions_TRAIN.ts")
    test = load_dataset(shared / "BasicMotions_TEST.ts", class_names=train.class_names)
    for ds in (train, test):
        assert ds.x.shape == (40, 100, 6)
        assert ds.lengths.tolist() == [100] * 40
        assert ds.class_names == ["Standing", "Running", "Walking", "Badminton"]
        assert np.bincount(ds.y).tolist() == [10, 10, 10, 10]
    assert train.source == "BasicMotions_TRAIN.ts"
    assert train.x[0, 0, 0] == pytest.approx(0.079106)


@pytest.mark.shared_data
def test_pickup_gesture_variable_length(shared):
    ds = load_dataset(shared / "PickupGestureWiimoteZ_TRAIN.ts")
    assert ds.n == 50 and ds.input_size == 1 and ds.output_size == 10
    assert (ds.lengths.min(), ds.lengths.max()) == (29, 361)
    assert ds.x.shape == (50, 361, 1)
    assert ds.class_names == [str(i) for i in range(1, 11)]
    assert_padding_zero(ds)


@pytest.mark.shared_data
def test_sunspots_series(shared):
    series = load_series(shared / "sunspots_monthly.dat")
    # 1749..2008 complete, then January..June 2009: the record ends mid-year.
    assert len(series) == 12 * (2008 - 1749 + 1) + 6
    assert series[0] == 58.0 and series[11] == 85.2 and series[-1] == 2.6
    ds = forecast_windows(series, 24, source="sunspots")
    assert ds.n == len(series) - 24 and ds.y[0, 0] == pytest.approx(series[24])
