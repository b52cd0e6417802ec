"""Built-in sources, all offline: aeon's bundled problems, airline passengers, the adding problem."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import search.data
from search.data import prepare
from search.data.sources import available_aeon
from search.errors import DataError
from tests.search.data import make_spec, one_sentence


def test_public_surface():
    assert search.data.__all__ == ["Task", "evaluate", "prepare"]


def test_japanese_vowels_is_variable_length_with_its_own_test_split():
    from aeon.datasets import load_classification

    task = prepare(make_spec("aeon:JapaneseVowels"), seed=0)
    x_test, y_test = load_classification("JapaneseVowels", split="test")
    assert task.classes == tuple(str(i) for i in range(1, 10))
    assert len(task.x_train) + len(task.x_val) == 270 and len(task.x_test) == 370
    assert task.input_shape == (None, 12)
    # The test split is aeon's, in aeon's order; each case right-aligned after NaN padding.
    steps = task.x_test.shape[1]
    for i in (0, 1, 200, 369):
        length = x_test[i].shape[1]
        np.testing.assert_array_equal(
            task.x_test[i, steps - length :], x_test[i].T.astype(np.float32)
        )
        assert np.isnan(task.x_test[i, : steps - length]).all()
    np.testing.assert_array_equal(np.array(task.classes)[task.y_test], y_test)
    # Validation is stratified: all nine speakers in it, 6 of each 30.
    assert np.bincount(task.y_val).tolist() == [6] * 9


def test_italy_power_demand_is_fixed_length():
    task = prepare(make_spec("aeon:ItalyPowerDemand"), seed=0)
    assert task.input_shape == (24, 1)
    assert len(task.x_test) == 1029 and task.classes == ("1", "2")


def test_a_test_size_replaces_the_source_split():
    task = prepare(make_spec("aeon:UnitTest", test_size=0.25), seed=0)
    # UnitTest has 20 + 22 cases; a quarter of all 42, stratified over two classes.
    assert len(task.x_test) == 11
    assert len(task.x_train) + len(task.x_val) == 31


def test_offline_names_include_the_bundled_problems():
    names = available_aeon("classification")
    for name in ("JapaneseVowels", "ItalyPowerDemand", "BasicMotions", "GunPoint", "UnitTest"):
        assert name in names
    assert "Covid3Month" not in names  # a regression problem
    assert "Covid3Month" in available_aeon("regression")


def test_unknown_aeon_name_lists_the_available_ones():
    with pytest.raises(DataError, match="the closest is 'JapaneseVowels'") as caught:
        prepare(make_spec("aeon:JapaneseVowel"), seed=0)
    assert "ItalyPowerDemand, JapaneseVowels" in str(caught.value)
    assert one_sentence(str(caught.value))


def test_aeon_regression_problem():
    task = prepare(make_spec("aeon:Covid3Month", task="regression"), seed=0)
    assert task.head.kind == "regression" and task.y_test.shape == (61, 1)


def test_airline_holds_out_the_last_twelve_months():
    from aeon.datasets import load_airline

    series = load_airline().astype(np.float32)
    task = prepare(make_spec("airline", task="forecasting"), seed=0)
    assert task.head.horizon == 12 and task.x_test.shape == (1, 24, 1)
    np.testing.assert_array_equal(task.y_test[0, :, 0], series[-12:])
    np.testing.assert_array_equal(task.x_test[0, :, 0], series[-36:-12])
    # Statistics come from the training part only (before validation and test).
    train_end = 144 - 12 - round(0.2 * 132)
    np.testing.assert_allclose(task.feature_mean, [series[:train_end].mean()], rtol=1e-6)
    np.testing.assert_allclose(task.head.target_std, [series[:train_end].std()], rtol=1e-5)


def test_airline_takes_window_and_horizon_from_the_spec():
    task = prepare(make_spec("airline", task="forecasting", window=12, horizon=1), seed=0)
    assert task.x_train.shape[1:] == (12, 1) and task.y_test.shape == (12, 1, 1)


def test_adding_problem_targets_are_the_sum_of_the_marked_values():
    task = prepare(make_spec("adding:T=30,n=200", task="regression"), seed=0)
    x = np.concatenate([task.x_train, task.x_val, task.x_test])
    y = np.concatenate([task.y_train, task.y_val, task.y_test])
    assert x.shape == (200, 30, 2) and task.input_shape == (30, 2)
    marker = x[:, :, 1]
    assert (marker[:, :15].sum(axis=1) == 1).all() and (marker[:, 15:].sum(axis=1) == 1).all()
    np.testing.assert_allclose((x[:, :, 0] * marker).sum(axis=1), y[:, 0], rtol=1e-6)


def test_adding_data_is_fixed_and_the_split_follows_the_seed():
    spec = make_spec("adding:T=20,n=100", task="regression")
    a, b, c = prepare(spec, 0), prepare(spec, 0), prepare(spec, 1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    every = lambda t: np.sort(np.concatenate([t.y_train, t.y_val, t.y_test])[:, 0])  # noqa: E731
    np.testing.assert_array_equal(every(a), every(c))
    assert not np.array_equal(a.y_test, c.y_test)
    other_data = prepare(replace(spec, source="adding:T=20,n=100,seed=5"), 0)
    assert not np.array_equal(every(a), every(other_data))


@pytest.mark.parametrize(
    ("source", "task", "match"),
    [
        ("airline", "classification", "set data.task to 'forecasting'"),
        ("adding:T=10", "classification", "set data.task to 'regression'"),
        ("aeon:UnitTest", "forecasting", "set data.task to 'classification'"),
        ("adding:T=10,k=3", "regression", "write options as key=integer"),
    ],
)
def test_builtin_misuse_names_the_fix(source, task, match):
    with pytest.raises(DataError, match=match) as caught:
        prepare(make_spec(source, task=task), seed=0)
    assert one_sentence(str(caught.value))
