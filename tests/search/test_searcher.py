"""The keras-tuner Oracle -> Ray Tune Searcher adapter, with an in-memory oracle and a real one."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from search.searcher import FINISHED, OracleSearcher
from search.trial_result import TRIAL_NUMBER_KEY
from tests.fakes import loss_oracle, loss_searcher, three_parameter_space


@dataclass
class _Trial:
    trial_id: str
    status: str
    hyperparameters: SimpleNamespace


@dataclass
class FakeOracle:
    """Proposes `values` in order, then STOPPED; records what the searcher tells it."""

    values: list
    objective: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(name="val_accuracy"))
    created: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    ended: list = field(default_factory=list)
    idle: bool = False

    def create_trial(self, tuner_id):
        print("Search: Running Trial #1")  # the real oracle prints; the adapter must silence it
        if self.idle:
            return _Trial("x", "IDLE", SimpleNamespace(values={}))
        if len(self.created) == len(self.values):
            return _Trial("x", "STOPPED", SimpleNamespace(values={}))
        trial = _Trial(
            f"{len(self.created):02d}",
            "RUNNING",
            SimpleNamespace(values=self.values[len(self.created)]),
        )
        self.created.append(tuner_id)
        return trial

    def update_trial(self, trial_id, metrics, step=0):
        self.updates.append((trial_id, metrics))

    def end_trial(self, trial):
        self.ended.append((trial.trial_id, trial.status))


def _searcher(oracle, limit=3):
    return OracleSearcher(
        oracle,
        metric="val_accuracy",
        mode="max",
        objective_of=lambda r: r.get("best_objective"),
        max_consecutive_failures=limit,
    )


def test_each_ray_trial_gets_its_own_proposal_with_python_scalars(capsys):
    oracle = FakeOracle([{"units": np.int64(32), "learning_rate": np.float32(0.5)}, {"units": 64}])
    searcher = _searcher(oracle)
    first, second = searcher.suggest("ray-a"), searcher.suggest("ray-b")
    assert first == {"units": 32, "learning_rate": 0.5, TRIAL_NUMBER_KEY: "00"}
    assert type(first["units"]) is int and type(first["learning_rate"]) is float
    assert second[TRIAL_NUMBER_KEY] == "01"
    assert oracle.created == ["ray-a", "ray-b"]  # one tuner_id per Ray trial
    assert searcher.suggest("ray-c") is FINISHED
    assert "explored" in searcher.stopped_reason
    assert capsys.readouterr().out == ""


def test_idle_oracle_means_ask_again_later():
    searcher = _searcher(FakeOracle([{"units": 1}], idle=True))
    assert searcher.suggest("ray-a") is None


def test_completion_records_the_best_objective_from_the_final_result():
    oracle = FakeOracle([{"units": 1}, {"units": 2}])
    searcher = _searcher(oracle)
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("b", {"best_objective": 0.75, "val_accuracy": 0.5})
    searcher.on_trial_complete("a", None, error=True)
    # The summary (best epoch's values) is recorded with the score, for a resumed search to read.
    assert oracle.updates == [("01", {"best_objective": 0.75, "val_accuracy": 0.75})]
    assert oracle.ended == [("01", "COMPLETED"), ("00", "FAILED")]
    assert searcher.proposal("a").values == {"units": 1}


def test_nan_or_missing_objective_counts_as_failed():
    oracle = FakeOracle([{"u": 1}, {"u": 2}])
    searcher = _searcher(oracle)
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("a", {"best_objective": float("nan")})
    searcher.on_trial_complete("b", {"loss": 1.0})
    assert oracle.ended == [("00", "FAILED"), ("01", "FAILED")]
    assert oracle.updates == []


def test_failures_in_a_row_before_any_success_stop_a_broken_search():
    oracle = FakeOracle([{"u": i} for i in range(10)])
    searcher = _searcher(oracle, limit=2)
    searcher.suggest("a")
    searcher.on_trial_complete("a", None, error=True)
    assert searcher.suggest("b") is not FINISHED
    searcher.on_trial_complete("b", None, error=True)
    assert searcher.suggest("c") is FINISHED
    assert (
        searcher.stopped_reason
        == "the first 2 trials all failed (search.max_consecutive_failures is 2)"
    )


def test_after_a_trial_completed_failures_in_a_row_do_not_end_the_search():
    oracle = FakeOracle([{"u": i} for i in range(10)])
    searcher = _searcher(oracle, limit=2)
    for name, ok in [("a", True), ("b", False), ("c", False), ("d", False)]:
        searcher.suggest(name)
        searcher.on_trial_complete(name, {"best_objective": 0.5} if ok else None, error=not ok)
    # One bad region of the space (three failures in a row) does not end a healthy search.
    assert searcher.suggest("e") is not FINISHED
    assert searcher.stopped_reason is None
    assert [status for _, status in oracle.ended] == ["COMPLETED", "FAILED", "FAILED", "FAILED"]


def test_state_round_trip_through_the_tune_searcher_s_checkpoint(tmp_path):
    from ray.tune.search import Searcher

    from search.tune import _for_tune

    oracle = FakeOracle([{"u": 1}, {"u": 2}])
    searcher = _for_tune(_searcher(oracle))
    assert isinstance(searcher, Searcher) and searcher.metric == "val_accuracy"
    searcher.suggest("a")
    searcher.save(str(tmp_path / "state.pkl"))
    inner = _searcher(FakeOracle([]))
    _for_tune(inner).restore(str(tmp_path / "state.pkl"))
    assert inner.proposal("a").values == {"u": 1}
    assert inner.suggest("b")[TRIAL_NUMBER_KEY] == "01"


# -- with a real keras-tuner oracle -----------------------------------------------------------------


def _proposals(tmp_path, algorithm, seed, n=6):
    name = f"{algorithm}-{seed}-{np.random.rand()}"
    oracle = loss_oracle(
        algorithm, three_parameter_space(), tmp_path, name, max_trials=n, seed=seed
    )
    searcher = loss_searcher(oracle)
    out = []
    for i in range(n + 1):
        config = searcher.suggest(f"ray-{i}")
        if config is FINISHED:
            break
        out.append(config)
        searcher.on_trial_complete(f"ray-{i}", {"best_objective": config["units"] / 100.0})
    return out


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["random", "bayesian"])
def test_same_seed_same_proposals_seed_zero_included(tmp_path, algorithm):
    zero_a, zero_b, one = (_proposals(tmp_path, algorithm, s) for s in (0, 0, 1))
    assert len(zero_a) == 6  # max_trials reached, then FINISHED
    assert zero_a == zero_b
    assert zero_a != one
    assert all(isinstance(c["units"], int) and 8 <= c["units"] <= 256 for c in zero_a)


@pytest.mark.slow
def test_grid_oracle_finishes_when_the_grid_is_exhausted(tmp_path):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Choice("cell", ["gru", "mgu"])
    hp.Choice("units", [8, 16])
    searcher = loss_searcher(loss_oracle("grid", hp, tmp_path, "grid", max_trials=50))
    seen = []
    for i in range(10):
        config = searcher.suggest(str(i))
        if config is FINISHED:
            break
        seen.append((config["cell"], config["units"]))
        searcher.on_trial_complete(str(i), {"best_objective": 1.0})
    assert sorted(seen) == [("gru", 8), ("gru", 16), ("mgu", 8), ("mgu", 16)]


def test_unknown_algorithm_is_a_clear_error(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"search.algorithm must be one of \['bayesian', 'grid', 'random'\], but got 'hyperband'",
    ):
        loss_oracle("hyperband", three_parameter_space(), tmp_path, "x", max_trials=1)


def test_per_epoch_results_are_recorded_in_the_oracle_at_their_step():
    oracle = FakeOracle([{"units": 1}])
    searcher = _searcher(oracle)
    searcher.suggest("a")
    for epoch, value in ((1, 0.5), (2, 0.7)):
        searcher.on_trial_result(
            "a", {"epoch": epoch, "val_accuracy": value, "loss": 1.0 / epoch, "trial_number": "00"}
        )
    searcher.on_trial_complete(
        "a", {"best_objective": 0.7, "best_epoch": 2, "epoch": 2, "val_accuracy": 0.7}
    )
    assert oracle.updates == [
        ("00", {"val_accuracy": 0.5, "loss": 1.0}),
        ("00", {"val_accuracy": 0.7, "loss": 0.5}),
        ("00", {"best_objective": 0.7, "best_epoch": 2.0, "epoch": 2.0, "val_accuracy": 0.7}),
    ]
