"""How a finished search's trials are best combined, measured on its own trials' checkpoints.

For each set of an earlier `benchmarks/suite.py` run (its search folders stay in /tmp), this
loads every trial's best checkpoint, ranks the trials by their validation objective as the
search did, and prints the test metric of the average of the top k (k = 1, 3, 5, 10, 20, all)
beside the validation metric of the same average, and the same for greedy ensemble selection
on the validation windows (search.ensemble_selection, as `ensemble_selection: greedy` builds
it). These are the trials' own models, not the refit the search registers. Choose by the test
column only on sets outside the suite's table (its OFF_TABLE_SETS); on the table's sets read
the validation column.

`--starts` (forecasting) prints instead the top `ensemble` trials averaged with their own linear
starts (cells.autoregressive.start_at_least_squares, fitted to the training windows as the
trial's was): each member is w * start + (1 - w) * trained, for w from 0 (the trained trials)
to 1 (their linear starts alone). It asks whether the networks improve on the linear model they
start from, or only fit the validation windows.

    python benchmarks/ensemble_size.py /tmp/gru-search-suite-XXXX PBS,Solar
    python benchmarks/ensemble_size.py /tmp/gru-search-suite-XXXX PBS,Solar --starts
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

# benchmarks/cells.py would shadow the `cells` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

SIZES = (1, 3, 5, 10, 20, None)  # None: every trial
START_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a suite run's folder (its header names it)")
    parser.add_argument("sets", type=lambda text: text.split(","))
    parser.add_argument(
        "--starts", action="store_true", help="blend the top trials with their linear starts"
    )
    args = parser.parse_args()
    from search.cli import quiet_output

    quiet_output()
    columns = [f"start w={w:g}" for w in START_WEIGHTS] if args.starts else [
        *(f"top {k or 'all'}" for k in SIZES), "greedy"
    ]  # fmt: skip
    print(" | ".join(["set", "trials", *columns]))
    for name in args.sets:
        spec, task, trials = read_trials(args.root / name, name)
        scores = _with_starts(spec, task, trials) if args.starts else _averages(spec, task, trials)
        cells = [f"{test:.4g} (val {val:.4g})" for val, test in scores]
        print(" | ".join([name, str(len(trials)), *cells]))


def read_trials(folder: Path, name: str):
    """(spec, task, trials best first): each trial's objective, values, and best checkpoint's
    predictions on the validation and test windows."""
    import keras

    from search import registry
    from search.data import prepare
    from search.data.metrics import predict
    from search.spec import parse_spec

    suite = _suite()
    data_set = next(s for s in suite.SETS + suite.OFF_TABLE_SETS if s.name == name)
    scratch = Path(tempfile.mkdtemp()) / name
    scratch.mkdir()
    spec = parse_spec(suite.default_mapping(data_set, scratch), scratch)
    task = prepare(spec.data, spec.search.seed)
    registry.register_cells()
    trials = []
    for result in (folder / "results").glob("*/ray-*/_trainable_*/result.json"):
        lines = result.read_text().strip().splitlines()
        if not lines:
            continue
        last = json.loads(lines[-1])
        objective = last.get("best_objective")
        checkpoints = sorted(result.parent.glob("checkpoint_*/model.keras"))
        if objective is None or not np.isfinite(objective) or not checkpoints:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(checkpoints[-1], compile=False)
        val, test = predict(model, task.x_val), predict(model, task.x_test)
        trials.append((objective, last["config"], val, test))
    trials.sort(key=lambda t: t[0])  # every forecasting and regression objective is minimised
    return spec, task, trials


def _mse(predictions, y, weights=None) -> float:
    average = np.average(predictions, axis=0, weights=weights)
    return float(np.mean((average.reshape(y.shape) - y) ** 2))


def _averages(spec, task, trials) -> list[tuple[float, float]]:
    """(validation, test) MSE of each top-k average, then of greedy selection's ensemble."""
    from search.ensemble_selection import MAX_CANDIDATES, greedy_weights

    scores = []
    for k in SIZES:
        top = trials[: k or len(trials)]
        scores.append(tuple(_mse([t[i] for t in top], y) for i, y in _splits(task)))
    candidates = trials[:MAX_CANDIDATES]
    counts = greedy_weights(
        [t[2] for t in candidates], lambda p: (_mse([p], task.y_val),), spec.search.ensemble
    )
    scores.append(tuple(_mse([t[i] for t in candidates], y, counts) for i, y in _splits(task)))
    return scores


def _splits(task):
    return ((2, task.y_val), (3, task.y_test))


def _with_starts(spec, task, trials) -> list[tuple[float, float]]:
    """(validation, test) MSE of the top trials blended with their linear starts, per weight."""
    from search.data.metrics import predict
    from search.trial import build_trial_model

    settings = trial_settings(spec)
    members = []
    for _, config, val, test in trials[: spec.search.ensemble]:
        start, _ = build_trial_model(
            trial_values(spec, config), config["trial_number"], task, settings
        )
        members.append(((val, test), (predict(start, task.x_val), predict(start, task.x_test))))
    scores = []
    for w in START_WEIGHTS:
        blended = [
            [w * started[i] + (1 - w) * trained[i] for trained, started in members] for i in (0, 1)
        ]
        scores.append((_mse(blended[0], task.y_val), _mse(blended[1], task.y_test)))
    return scores


def trial_settings(spec):
    """The TrialSettings a trial of `spec` trained with, less the tracking it does not need here."""
    from search.trial import TrialSettings

    s = spec.search
    return TrialSettings(
        objective=s.objective.metric, mode=s.objective.mode, max_epochs=s.max_epochs,
        patience=s.patience, cpus=float(s.resources_per_trial.cpu), tracking_uri="",
        experiment_id="", parent_run_id="", seed=s.seed, space=spec.space,
    )  # fmt: skip


def trial_values(spec, config: dict) -> dict:
    """A trial's values from Tune's config: its number dropped, inactive values too."""
    values = {k: v for k, v in config.items() if k != "trial_number"}
    return values if spec.space is None else spec.space.active(values)


def _suite():
    """benchmarks/suite.py as a module, for its data sets and default specs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("suite", Path(__file__).with_name("suite.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["suite"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    main()
