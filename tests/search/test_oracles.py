"""search.oracles: the spec's first trials come first, then the algorithm's own proposals."""

from __future__ import annotations

import pytest
from ray import cloudpickle

from search.searcher import FINISHED
from tests.fakes import loss_oracle, loss_searcher, three_parameter_space

FIRST = [
    {"cell": "gru", "units": 64, "learning_rate": 1e-3},
    {"cell": "mgu", "units": 32, "learning_rate": 1e-3},
]


def _oracle(tmp_path, algorithm="random", name="first"):
    return loss_oracle(algorithm, three_parameter_space(), tmp_path, name, first_trials=FIRST)


def _run(searcher, start, count):
    configs = []
    for i in range(start, start + count):
        config = searcher.suggest(f"ray-{i}")
        assert config is not FINISHED
        configs.append(config)
        searcher.on_trial_complete(f"ray-{i}", {"best_objective": config["units"] / 100.0})
    return configs


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["random", "bayesian"])
def test_the_first_trials_come_first_in_order_then_the_algorithm_proposes(tmp_path, algorithm):
    searcher = loss_searcher(_oracle(tmp_path, algorithm))
    configs = _run(searcher, 0, 6)
    strip = [{k: v for k, v in c.items() if k != "trial_number"} for c in configs]
    assert strip[:2] == FIRST
    assert [c["trial_number"] for c in configs[:2]] == ["00", "01"]
    assert all(c not in FIRST for c in strip[2:])  # the rest are the algorithm's, not repeats


@pytest.mark.slow
def test_a_reloaded_oracle_goes_on_after_the_first_trials_it_already_made(tmp_path):
    oracle = _oracle(tmp_path)
    searcher = loss_searcher(oracle)
    _run(searcher, 0, 1)  # the first of the two first trials ran; the search was stopped
    resumed = _oracle(tmp_path)
    resumed.reload()
    again = loss_searcher(resumed)
    (second,) = _run(again, 1, 1)
    assert second["trial_number"] == "01" and {k: second[k] for k in FIRST[1]} == FIRST[1]
    # Ray Tune's checkpoint of the searcher pickles the oracle: the first trials travel with it.
    restored = cloudpickle.loads(cloudpickle.dumps(resumed))
    assert restored.first_trials == tuple(FIRST)


def test_grid_takes_no_first_trials(tmp_path):
    with pytest.raises(ValueError, match="The grid algorithm takes no first trials"):
        _oracle(tmp_path, "grid")


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["random", "bayesian"])
def test_a_reloaded_oracle_does_not_run_the_trial_that_ended_last_again(tmp_path, algorithm):
    # keras-tuner saves the oracle on end_trial before it drops the trial from the running ones.
    def oracle():
        import keras_tuner

        hp = keras_tuner.HyperParameters()
        hp.Choice("cell", ["gru", "mgu", "minimal"])
        hp.Choice("units", [8, 16, 32])
        return loss_oracle(algorithm, hp, tmp_path, "retry")

    searcher = loss_searcher(oracle())
    ended = _run(searcher, 0, 2)
    resumed = oracle()
    resumed.reload()
    again = loss_searcher(resumed)
    (third,) = _run(again, 2, 1)
    assert third["trial_number"] == "02" and third not in ended
