"""Bad input: each case raises DataError with one sentence naming the fix, before any training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from search.data import prepare
from search.errors import DataError, GruSearchError
from tests.search.data import long_frame, make_spec, one_sentence, variable_length_cases


def raises(spec, match, seed=0):
    with pytest.raises(DataError, match=match) as caught:
        prepare(spec, seed)
    message = str(caught.value)
    assert one_sentence(message), message
    assert isinstance(caught.value, GruSearchError) and isinstance(caught.value, ValueError)
    return message


@pytest.fixture
def frame():
    cases, labels = variable_length_cases(30)
    return long_frame(cases, labels)


def csv_spec(tmp_path, frame, **changes):
    frame.to_csv(tmp_path / "d.csv", index=False)
    return make_spec("d.csv", base_dir=str(tmp_path), **changes)


def test_missing_file_names_the_resolved_path(tmp_path):
    message = raises(make_spec("nope.csv", base_dir=str(tmp_path)), "does not exist")
    assert str(tmp_path / "nope.csv") in message


def test_unknown_extension_lists_the_known_ones(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    raises(make_spec("d.xlsx", base_dir=str(tmp_path)), r"\.npz, \.csv, \.parquet")


def test_unreadable_table(tmp_path):
    (tmp_path / "d.parquet").write_text("not parquet")
    raises(make_spec("d.parquet", base_dir=str(tmp_path)), "Cannot read d.parquet")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"label_column": "lable"},
            "data.label_column 'lable' is not a column of d.csv \\(did you mean 'label'\\?\\)",
        ),
        ({"id_column": "sequenceid"}, "did you mean 'sequence_id'"),
        ({"features": ("f0", "f7")}, "data.features 'f7'"),
        ({"time_column": "timestamp"}, "data.time_column 'timestamp'"),
    ],
)
def test_missing_or_misspelled_column_suggests_the_closest(tmp_path, frame, changes, match):
    message = raises(csv_spec(tmp_path, frame, **changes), match)
    assert "sequence_id, time, f0, f1, f2, label" in message


def test_non_numeric_feature(tmp_path, frame):
    frame["colour"] = "red"
    raises(csv_spec(tmp_path, frame), "Column 'colour' of d.csv is not numeric")


def test_label_varying_within_a_sequence(tmp_path, frame):
    frame.loc[3, "label"] = "emu"  # row 3 belongs to the first sequence, labelled 'cat'
    raises(csv_spec(tmp_path, frame), "changes within sequence 's0000' \\('cat' then 'emu'\\)")


@pytest.mark.parametrize(
    ("value", "what"), [(np.nan, "a missing \\(NaN\\)"), (np.inf, "an infinite")]
)
def test_bad_values_say_where_and_offer_drop_and_fill(tmp_path, frame, value, what):
    frame.loc[frame.index[(frame.sequence_id == "s0002") & (frame.time == 1)], "f1"] = value
    spec = csv_spec(tmp_path, frame)
    raises(spec, f"{what} value in feature 'f1' of sequence s0002 at step 1 .*'drop'.*'fill'")
    dropped = prepare(replace(spec, missing="drop"), 0)
    filled = prepare(replace(spec, missing="fill"), 0)
    for task in (dropped, filled):
        assert np.isfinite(task.x_train[~np.isnan(task.x_train).all(axis=-1)]).all()
    # Dropping removes that one sequence; filling repeats the step before the bad value.
    original = frame[frame.sequence_id == "s0002"][["f0", "f1", "f2"]].to_numpy(np.float32)

    def rows_ending_like_s0002(task):
        x = np.concatenate([task.x_train, task.x_val, task.x_test])
        return [r[~np.isnan(r).all(axis=1)] for r in x if r[-1, 2] == original[-1, 2]]

    assert rows_ending_like_s0002(dropped) == []
    assert sum(len(t) for t in (dropped.x_train, dropped.x_val, dropped.x_test)) == 29
    expected = original.copy()
    expected[1, 1] = expected[0, 1]
    (filled_row,) = rows_ending_like_s0002(filled)
    np.testing.assert_array_equal(filled_row, expected)


def test_missing_label(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5, 2))
    y = rng.normal(size=30)
    y[4] = np.nan
    np.savez(tmp_path / "r.npz", x_train=x, y_train=y)
    spec = make_spec(str(tmp_path / "r.npz"), task="regression")
    raises(spec, "missing or infinite label for sequence 4")
    raises(replace(spec, missing="fill"), "cannot be filled; set data.missing to 'drop'")
    task = prepare(replace(spec, missing="drop"), 0)
    assert len(task.y_train) + len(task.y_val) + len(task.y_test) == 29


def test_nan_in_a_forecasting_table(tmp_path):
    frame = pd.DataFrame({"time": np.arange(100), "load": np.arange(100.0)})
    frame.loc[37, "load"] = np.nan
    frame.to_csv(tmp_path / "f.csv", index=False)
    spec = make_spec(
        source="f.csv", base_dir=str(tmp_path), task="forecasting", window=5, horizon=2
    )
    raises(spec, "missing \\(NaN\\) value in column 'load' at row 37")
    filled = prepare(replace(spec, missing="fill"), 0)
    every = np.concatenate([filled.x_train[:, :, 0].ravel(), filled.y_train.ravel()])
    assert np.isfinite(every).all()
    assert prepare(replace(spec, missing="drop"), 0).x_train.shape[1:] == (5, 1)


def test_series_too_short_for_window_and_horizon(tmp_path):
    pd.DataFrame({"load": np.arange(40.0)}).to_csv(tmp_path / "f.csv", index=False)
    spec = make_spec(
        source="f.csv",
        base_dir=str(tmp_path),
        task="forecasting",
        window=30,
        horizon=2,
        test_size=5,
    )
    raises(spec, "too short for data.window \\+ data.horizon = 30 \\+ 2")


def test_horizon_longer_than_the_test_split(tmp_path):
    pd.DataFrame({"load": np.arange(400.0)}).to_csv(tmp_path / "f.csv", index=False)
    spec = make_spec(
        source="f.csv",
        base_dir=str(tmp_path),
        task="forecasting",
        window=10,
        horizon=12,
        test_size=6,
    )
    raises(spec, "The test split of f.csv has 6 step\\(s\\), fewer than data.horizon=12")


def test_unsorted_time_column(tmp_path):
    pd.DataFrame({"time": [0, 2, 1, 3] * 10, "load": np.arange(40.0)}).to_csv(
        tmp_path / "f.csv", index=False
    )
    spec = make_spec(
        source="f.csv", base_dir=str(tmp_path), task="forecasting", window=2, horizon=1
    )
    raises(spec, "not strictly increasing; sort the rows by time")


def test_a_class_with_too_few_cases(tmp_path, frame):
    frame.loc[frame.sequence_id.isin(["s0000", "s0003"]), "label"] = "yak"
    frame.loc[frame.sequence_id == "s0003", "label"] = "cat"
    raises(
        csv_spec(tmp_path, frame),
        "Class 'yak' of d.csv has 1 case\\(s\\), but a stratified test and validation split needs at least 3",
    )


def test_a_class_only_in_the_test_split(tmp_path, frame):
    frame["split"] = np.where(frame.label == "emu", "test", "train")
    raises(
        csv_spec(tmp_path, frame),
        "Class 'emu' of d.csv appears in the test split but never in training",
    )


def test_empty_split(tmp_path, frame):
    frame["split"] = "train"
    raises(csv_spec(tmp_path, frame), "marks no test cases in its own split")


def test_unknown_split_value(tmp_path, frame):
    frame["split"] = "validation"
    raises(csv_spec(tmp_path, frame), "holds \\['validation'\\]; use only 'train' or 'test'")


def test_a_single_class(tmp_path, frame):
    frame["label"] = "cat"
    raises(csv_spec(tmp_path, frame), "only one class \\('cat'\\)")


def test_npz_without_the_needed_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 4, 1)), y=np.zeros(3))
    raises(make_spec(str(tmp_path / "d.npz")), "needs x_train and y_train")


def test_npz_with_mismatched_case_counts(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((3, 4, 1)), y_train=np.zeros(4))
    raises(make_spec(str(tmp_path / "d.npz")), "x_train has 3 cases but y_train has 4")


def test_npz_for_forecasting(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((3, 4, 1)), y_train=np.zeros(3))
    raises(
        make_spec(str(tmp_path / "d.npz"), task="forecasting"),
        "Forecasting reads a time-indexed CSV or Parquet table",
    )


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"validation": 0.0}, "data.validation must be a fraction between 0 and 1"),
        ({"test_size": 1.5}, "data.test_size must be a fraction between 0 and 1"),
        ({"missing": "ignore"}, "data.missing must be one of"),
        ({"task": "ranking"}, "data.task must be one of"),
    ],
)
def test_bad_settings(tmp_path, frame, changes, match):
    raises(csv_spec(tmp_path, frame, **changes), match)
