"""keras-tuner's oracles, seeded exactly, each training the spec's first trials before its own.

A reloaded oracle (a resumed search) also no longer runs its last ended trial again.

`search.first_trials` (search.spec.first_trials) are configurations known to work; the oracle
hands them out as trials 0, 1, ... and proposes from then on. They are ordinary trials to it:
recorded (random search does not draw them again) and, for Bayesian optimisation, among the
points its Gaussian process is fitted to. Imported by the driver only: keras-tuner imports Keras.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras_tuner
import numpy as np
from keras_tuner.engine.trial import TrialStatus


class FirstTrialsFirst:
    """Mixin over a keras-tuner oracle: trial number i < len(first_trials) takes first_trials[i].

    The number is the oracle's count of trials so far, so a resumed search (whose reloaded
    oracle holds the trials already made) goes on where it stopped.
    """

    first_trials: tuple[dict[str, Any], ...] = ()

    def populate_space(self, trial_id):
        index = int(trial_id)
        if index < len(self.first_trials):
            return {"status": TrialStatus.RUNNING, "values": dict(self.first_trials[index])}
        return super().populate_space(trial_id)


class Resumable:
    """Mixin over a keras-tuner oracle: `reload` does not run an ended trial again, and
    `saved` says whether there is anything to reload.

    keras-tuner's `end_trial` saves the oracle before it drops the trial from its running ones,
    and `reload` sends every running trial back for a retry, so the trial that ended last
    before a search stopped ran again when it resumed.
    """

    def saved(self) -> bool:
        return Path(self._get_oracle_fname()).is_file()

    def reload(self):
        super().reload()
        ended = set(self.end_order)
        self._retry_queue = [trial_id for trial_id in self._retry_queue if trial_id not in ended]


class RandomSearchOracle(Resumable, FirstTrialsFirst, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOptimizationOracle(
    Resumable, FirstTrialsFirst, keras_tuner.oracles.BayesianOptimizationOracle
):
    pass


class GridSearchOracle(Resumable, keras_tuner.oracles.GridSearchOracle):
    """No first trials: the grid tries every point anyway (the spec refuses them)."""


ORACLES = {
    "random": RandomSearchOracle,
    "grid": GridSearchOracle,
    "bayesian": BayesianOptimizationOracle,
}


def make_oracle(
    algorithm: str,
    *,
    hyperparameters,
    objective: str,
    mode: str,
    max_trials: int,
    seed: int,
    project_dir: str,
    project_name: str,
    first_trials: Sequence[Mapping[str, Any]] = (),
):
    """Builds the keras-tuner oracle for `algorithm`, seeded exactly (seed 0 included).

    `first_trials` are complete configurations (every active parameter has a value)."""
    if algorithm not in ORACLES:
        raise ValueError(
            f"search.algorithm must be one of {sorted(ORACLES)}, but got {algorithm!r}."
        )
    if first_trials and algorithm == "grid":
        raise ValueError("The grid algorithm takes no first trials: it tries every point anyway.")
    oracle = ORACLES[algorithm](
        objective=keras_tuner.Objective(objective, direction=mode),
        max_trials=max_trials,
        hyperparameters=hyperparameters,
        seed=seed,
        # The searcher counts consecutive failures itself; the oracle's check raises instead.
        max_consecutive_failed_trials=10**9,
        allow_new_entries=False,
        tune_new_entries=False,
    )
    if first_trials:
        oracle.first_trials = tuple(dict(values) for values in first_trials)
    _force_seed(oracle, seed)
    oracle.verbose = 0
    # The oracle writes trial.json files here and refuses create_trial without it.
    oracle._set_project_dir(project_dir, project_name)
    return oracle


def _force_seed(oracle, seed: int) -> None:
    """keras-tuner reads `seed or random.randint(...)`, so seed 0 would mean 'unseeded'."""
    oracle.seed = seed
    oracle._seed_state = seed
    if hasattr(oracle, "_random_state"):  # Bayesian: initial points and the GP's restarts
        oracle._random_state = np.random.RandomState(seed)
        oracle.gpr = oracle._make_gpr()


def oracle_for(spec, results_dir: Path, parent_run_id: str, *, reload: bool):
    """The oracle of search `spec` (one per parent run, found again by --resume); with `reload`,
    as its saved state left it: trials that were running run again under their number."""
    from space.keras_tuner import declare

    hp = keras_tuner.HyperParameters()
    declare(spec.space, hp)
    s = spec.search
    oracle = make_oracle(
        s.algorithm,
        hyperparameters=hp,
        objective=s.objective.metric,
        mode=s.objective.mode,
        max_trials=s.max_trials,
        seed=s.seed,
        project_dir=str(results_dir),
        project_name=f"oracle-{parent_run_id}",
        # The parameters a first trial leaves out are drawn, each trial with its own seed.
        first_trials=[
            spec.space.sample(s.seed + i, given=values) for i, values in enumerate(s.first_trials)
        ],
    )
    if reload and oracle.saved():
        oracle.reload()
    return oracle
