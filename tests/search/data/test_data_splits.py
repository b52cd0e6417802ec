"""Splits and leakage: seeded stratified splits, statistics from train only, windows in bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from search.data import prepare
from search.data.preprocessing import channel_stats
from tests.search.data import make_spec, variable_length_cases, write_npz


def id_tagged_npz(tmp_path, num_cases=90, seed=0):
    """Cases whose feature 0 is the case number (constant per case), so splits can be traced."""
    rng = np.random.default_rng(seed)
    cases = [np.column_stack([np.full(6, i), rng.normal(size=6)]) for i in range(num_cases)]
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, size=num_cases)]
    return write_npz(tmp_path / "tagged.npz", cases, labels), labels


def case_numbers(x):
    return x[:, -1, 0].astype(int)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_splits_are_disjoint_complete_stratified_and_seeded(tmp_path, seed):
    path, labels = id_tagged_npz(tmp_path)
    spec = make_spec(str(path), test_size=0.2, validation=0.25, allow_pickle=True)
    task = prepare(spec, seed)
    parts = [case_numbers(task.x_train), case_numbers(task.x_val), case_numbers(task.x_test)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(90))
    # Labels travel with their cases.
    for x, y in (
        (task.x_train, task.y_train),
        (task.x_val, task.y_val),
        (task.x_test, task.y_test),
    ):
        np.testing.assert_array_equal(np.array(task.classes)[y], labels[case_numbers(x)])
    # Each class is split in (about) the asked proportions, never missing from a split.
    for c in range(3):
        total = int((labels == task.classes[c]).sum())
        in_test = int((task.y_test == c).sum())
        assert in_test == max(1, round(0.2 * total))
        assert (task.y_val == c).sum() >= 1 and (task.y_train == c).sum() >= 1
    again = prepare(spec, seed)
    np.testing.assert_array_equal(task.x_test, again.x_test)
    other = prepare(spec, seed + 100)
    assert not np.array_equal(case_numbers(task.x_test), case_numbers(other.x_test))
    assert task.fingerprint == again.fingerprint != other.fingerprint


def test_seed_zero_is_a_real_seed(tmp_path):
    # keras-tuner treats seed 0 as "no seed"; here 0 must be as reproducible as any other.
    path, _ = id_tagged_npz(tmp_path)
    spec = make_spec(str(path), allow_pickle=True)
    np.testing.assert_array_equal(prepare(spec, 0).x_val, prepare(spec, 0).x_val)


def test_statistics_come_from_the_training_split_only(tmp_path):
    cases, labels = variable_length_cases(60, seed=4)
    split = ["train"] * 45 + ["test"] * 15
    # Test cases live on a wildly different scale: if they leaked into the statistics, it shows.
    cases = [c if s == "train" else 1000 + 50 * c for c, s in zip(cases, split, strict=True)]
    write_npz(tmp_path / "d.npz", cases, labels, split)
    task = prepare(make_spec(str(tmp_path / "d.npz"), allow_pickle=True), 0)
    train = task.x_train.reshape(-1, 3).astype(np.float64)
    train = train[~np.isnan(train).any(axis=1)]
    np.testing.assert_allclose(task.feature_mean, train.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(task.feature_std, train.std(axis=0), rtol=1e-5)
    assert np.all(np.abs(task.feature_mean) < 5)
    # The validation cases are not in the statistics either.
    with_val = np.concatenate([task.x_train, task.x_val]).reshape(-1, 3)
    assert not np.allclose(task.feature_mean, np.nanmean(with_val, axis=0), rtol=1e-7, atol=0)


def test_channel_stats_ignore_padding_and_guard_constant_channels():
    x = np.array([[[np.nan, np.nan], [1.0, 5.0], [3.0, 5.0]], [[2.0, 5.0], [4.0, 5.0], [6.0, 5.0]]])
    mean, std = channel_stats(x)
    np.testing.assert_allclose(mean, [3.2, 5.0])
    np.testing.assert_allclose(std, [np.std([1, 3, 2, 4, 6]), 1.0], rtol=1e-6)


def test_forecasting_windows_never_reach_into_a_later_split(tmp_path):
    steps, window, horizon, test = 300, 16, 5, 40
    frame = pd.DataFrame({"step": np.arange(steps, dtype=float), "y": np.sin(np.arange(steps) / 7)})
    frame.to_parquet(tmp_path / "s.parquet")
    spec = make_spec(
        source=str(tmp_path / "s.parquet"),
        task="forecasting",
        target=("step",),
        features=("y",),
        window=window,
        horizon=horizon,
        test_size=test,
        validation=0.25,
    )
    task = prepare(spec, 0)
    train_end = (steps - test) - round(0.25 * (steps - test))
    val_end = steps - test
    # Channel 0 is the step number: read which steps each window touches.
    assert task.x_train[..., 0].max() < train_end and task.y_train[..., 0].max() < train_end
    assert task.y_val[..., 0].min() >= train_end and task.y_val[..., 0].max() < val_end
    assert task.x_val[..., 0].max() < val_end
    assert task.y_test[..., 0].min() >= val_end
    # Every forecast origin is used once: no gaps, no overlap between splits' targets.
    origins = np.concatenate([task.y_train[:, 0, 0], task.y_val[:, 0, 0], task.y_test[:, 0, 0]])
    expected = np.concatenate(
        [
            np.arange(window, train_end - horizon + 1),
            np.arange(train_end, val_end - horizon + 1),
            np.arange(val_end, steps - horizon + 1),
        ]
    )
    np.testing.assert_array_equal(origins, expected)
    # Statistics from the training steps only.
    np.testing.assert_allclose(task.feature_mean[0], (train_end - 1) / 2, rtol=1e-6)
    np.testing.assert_allclose(task.head.target_mean[0], (train_end - 1) / 2, rtol=1e-6)
