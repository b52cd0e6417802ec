"""The user's own files: NPZ, long-format CSV/Parquet, forecasting tables, and round trips."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from search.data import prepare
from search.data.preprocessing import in_sequence
from search.errors import DataError
from tests.search.data import long_frame, make_spec, variable_length_cases, write_npz

ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "feature_mean", "feature_std")


def assert_same_task(a, b):
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.classes == b.classes
    assert a.head == b.head
    assert a.fingerprint == b.fingerprint


def write_all(tmp_path, cases, labels, split=None):
    frame = long_frame(cases, labels, split)
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    write_npz(tmp_path / "data.npz", cases, labels, split)
    return ["data.npz", "data.csv", "data.parquet"]


@pytest.mark.parametrize("own_split", [False, True])
def test_the_same_data_as_npz_csv_and_parquet_prepares_identically(tmp_path, own_split):
    cases, labels = variable_length_cases(60)
    # Train cases first, so the NPZ's x_train/x_test order matches the table's row order.
    split = ["train"] * 45 + ["test"] * 15 if own_split else None
    tasks = [
        prepare(make_spec(name, base_dir=str(tmp_path), allow_pickle=True), seed=3)
        for name in write_all(tmp_path, cases, labels, split)
    ]
    assert_same_task(tasks[0], tasks[1])
    assert_same_task(tasks[0], tasks[2])
    assert len(tasks[0].x_test) == (15 if own_split else 12)
    assert tasks[1].feature_names == ("f0", "f1", "f2")


def test_long_format_pads_before_each_sequence_and_keeps_its_values(tmp_path):
    cases, labels = variable_length_cases(30)
    long_frame(cases, labels).to_csv(tmp_path / "data.csv", index=False)
    task = prepare(make_spec("data.csv", base_dir=str(tmp_path), test_size=0.2), seed=0)
    assert task.classes == ("cat", "dog", "emu")
    assert task.x_train.dtype == np.float32 and task.y_train.dtype == np.int64
    assert task.input_shape == (None, 3)
    steps = task.x_train.shape[1]
    assert steps == max(len(c) for c in cases)
    # Each prepared case is one source case, right-aligned, NaN before it.
    by_first_value = {np.float32(c[0, 0]): c for c in cases}
    for row in np.concatenate([task.x_train, task.x_val, task.x_test]):
        real = ~np.isnan(row).all(axis=1)
        length = int(real.sum())
        assert real[steps - length :].all(), "padding must come before the sequence"
        source = by_first_value[row[steps - length, 0]]
        np.testing.assert_array_equal(row[steps - length :], source.astype(np.float32))


def test_rows_in_any_order_are_sorted_by_id_appearance_and_time(tmp_path):
    cases, labels = variable_length_cases(30)
    frame = long_frame(cases, labels)
    frame.to_csv(tmp_path / "ordered.csv", index=False)
    # Shuffle rows within each sequence only, so ids still appear in the same first order.
    shuffled = frame.groupby("sequence_id", sort=False, group_keys=False).sample(
        frac=1.0, random_state=0
    )
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    spec = make_spec("ordered.csv", base_dir=str(tmp_path))
    assert_same_task(prepare(spec, 0), prepare(replace(spec, source="shuffled.csv"), 0))


def test_column_names_come_from_the_spec(tmp_path):
    cases, labels = variable_length_cases(30)
    frame = long_frame(cases, labels).rename(
        columns={"sequence_id": "patient", "time": "t", "label": "diagnosis"}
    )
    frame["note"] = "ignored"
    frame.to_parquet(tmp_path / "data.parquet")
    spec = make_spec(
        source=str(tmp_path / "data.parquet"),
        id_column="patient",
        time_column="t",
        label_column="diagnosis",
        features=("f2", "f0"),
    )
    task = prepare(spec, 0)
    assert task.feature_names == ("f2", "f0")
    assert task.x_train.shape[2] == 2


def test_regression_from_a_long_table(tmp_path):
    rng = np.random.default_rng(0)
    cases = [rng.normal(size=(8, 2)) for _ in range(40)]
    targets = np.array([c[:, 0].sum() for c in cases])
    long_frame(cases, targets).to_csv(tmp_path / "data.csv", index=False)
    task = prepare(make_spec("data.csv", base_dir=str(tmp_path), task="regression"), 0)
    assert task.y_train.shape[1:] == (1,) and task.y_train.dtype == np.float32
    assert task.head.num_outputs == 1
    np.testing.assert_allclose(task.head.target_mean[0], task.y_train.mean(), rtol=1e-5)
    np.testing.assert_allclose(task.head.target_std[0], task.y_train.std(), rtol=1e-5)
    # Every target is the sum of its own case's first feature: nothing got shuffled apart.
    x = np.concatenate([task.x_train, task.x_val, task.x_test])
    y = np.concatenate([task.y_train, task.y_val, task.y_test])[:, 0]
    np.testing.assert_allclose(x[:, :, 0].sum(axis=1), y, rtol=1e-5)


def test_npz_fixed_length_univariate_and_post_padded_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 10))  # (cases, steps): univariate
    y = np.arange(30) % 2
    np.savez(tmp_path / "uni.npz", x_train=x, y_train=y)
    task = prepare(make_spec(str(tmp_path / "uni.npz")), 0)
    assert task.x_train.shape[1:] == (10, 1) and task.input_shape == (10, 1)
    assert task.classes == ("0", "1")

    # The same variable-length data as an object array and as a post-padded 3-D array.
    cases, labels = variable_length_cases(30)
    write_npz(tmp_path / "objects.npz", cases, labels)
    padded = np.full((30, 12, 3), np.nan)
    for i, case in enumerate(cases):
        padded[i, : len(case)] = case
    np.savez(tmp_path / "padded.npz", x_train=padded, y_train=labels)
    spec = make_spec("objects.npz", base_dir=str(tmp_path), allow_pickle=True)
    assert_same_task(prepare(spec, 0), prepare(replace(spec, source="padded.npz"), 0))


def test_npz_object_arrays_need_the_specs_consent_to_unpickle(tmp_path):
    # Unpickling can run code: object arrays load only with data.allow_pickle: true.
    cases, labels = variable_length_cases(30)
    write_npz(tmp_path / "objects.npz", cases, labels)
    with pytest.raises(
        DataError, match=r"pad the cases with NaN to one length, or set data\.allow_pickle: true"
    ):
        prepare(make_spec("objects.npz", base_dir=str(tmp_path)), 0)


def test_forecasting_table_windows_hold_consecutive_steps(tmp_path):
    steps = 200
    t = np.arange(steps, dtype=np.float64)
    frame = pd.DataFrame(
        {"time": t, "sales": 10 + t, "returns": -t, "price": 1000 + t, "unused": 0.0}
    )
    frame.to_csv(tmp_path / "sales.csv", index=False)
    spec = make_spec(
        source="sales.csv",
        base_dir=str(tmp_path),
        task="forecasting",
        target=("sales", "returns"),
        features=("price",),
        window=8,
        horizon=3,
        test_size=20,
    )
    task = prepare(spec, 0)
    assert task.feature_names == ("sales", "returns", "price")
    assert task.head.kind == "forecasting" and task.head.horizon == 3 and task.head.num_outputs == 2
    assert task.y_train.shape[1:] == (3, 2) and task.x_train.shape[1:] == (8, 3)
    for x, y in zip(task.x_train, task.y_train, strict=True):
        start = x[0, 0] - 10
        np.testing.assert_array_equal(x[:, 0], 10 + start + np.arange(8))
        np.testing.assert_array_equal(x[:, 2], 1000 + start + np.arange(8))
        np.testing.assert_array_equal(y[:, 0], 10 + start + 8 + np.arange(3))
        np.testing.assert_array_equal(y[:, 1], -(start + 8 + np.arange(3)))
    # Test windows: every target step in the last 20 steps, each forecast origin once.
    assert len(task.y_test) == 20 - 3 + 1
    assert task.y_test[:, :, 0].min() - 10 == steps - 20


def test_forecasting_parquet_equals_csv(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"load": rng.normal(size=120).cumsum(), "temp": rng.normal(size=120)})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet", index=False)
    spec = make_spec(
        source="a.csv",
        base_dir=str(tmp_path),
        task="forecasting",
        target=("load",),
        window=10,
        horizon=2,
    )
    assert_same_task(prepare(spec, 0), prepare(replace(spec, source="a.parquet"), 0))


def test_in_sequence_marks_the_last_steps():
    mask = in_sequence(np.array([0, 2, 4]), 4)
    np.testing.assert_array_equal(mask, [[False] * 4, [False, False, True, True], [True] * 4])


def test_custom_split_column_and_a_test_count(tmp_path):
    cases, labels = variable_length_cases(60)
    frame = long_frame(cases, labels, ["train"] * 40 + ["test"] * 20).rename(
        columns={"split": "fold"}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = make_spec("d.csv", base_dir=str(tmp_path), split_column="fold")
    task = prepare(spec, 0)
    assert len(task.x_test) == 20 and task.feature_names == ("f0", "f1", "f2")
    # Without the split column, an int test_size is a number of cases (stratified, 3 classes).
    frame.drop(columns="fold").to_csv(tmp_path / "d.csv", index=False)
    task = prepare(replace(spec, test_size=15), 0)
    assert len(task.x_test) == 15


def test_forecasting_stride_spaces_the_windows(tmp_path):
    pd.DataFrame({"v": np.arange(100.0)}).to_csv(tmp_path / "s.csv", index=False)
    spec = make_spec(
        "s.csv", "forecasting", base_dir=str(tmp_path), window=5, horizon=2, stride=3, test_size=20
    )
    task = prepare(spec, 0)
    # Training steps [0, 64): origins 5, 8, ..., 62 (the last whose targets end by step 63).
    np.testing.assert_array_equal(task.y_train[:, 0, 0], np.arange(5, 63, 3))
    np.testing.assert_array_equal(task.y_test[:, 0, 0], np.arange(80, 99, 3))
    np.testing.assert_array_equal(task.x_train[1, :, 0], np.arange(3, 8))
