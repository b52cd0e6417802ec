"""Does the refit help, and how long should it train? Measured on a finished search's members.

For each set of an earlier `benchmarks/suite.py` run (its search folders stay in /tmp), this
takes the registered members (summary.json) and prints the test MSE of their equal average as:
- registered: what the search registered (refits where the budget let them run, else the
  trial's own model);
- trials: every member's own trial model (trained on the training windows only);
- refit, same epochs: every member refit on training + validation for its best epoch count,
  as `search.refit` does (same seed, so the same initial weights);
- refit, same updates: the same, for the epochs that make its trial's number of updates;
- registered + trials: both models of each member, averaged.
Read the test column only on sets outside the suite's table (its OFF_TABLE_SETS).

    python benchmarks/refit_variants.py /tmp/gru-search-suite-XXXX PBS,Solar
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent.resolve()
# benchmarks/cells.py would shadow the `cells` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

COLUMNS = (
    "registered",
    "trials",
    "refit, same epochs",
    "refit, same updates",
    "registered + trials",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a suite run's folder (its header names it)")
    parser.add_argument("sets", type=lambda text: text.split(","))
    args = parser.parse_args()
    from search.cli import quiet_output

    quiet_output()
    print(" | ".join(["set", *COLUMNS]))
    for name in args.sets:
        print(" | ".join([name, *(f"{v:.4g}" for v in _measure(args.root / name, name))]))


def _measure(folder: Path, name: str) -> list[float]:
    from search.data.metrics import predict
    from search.data.refit import with_validation_in_training
    from search.trial import build_trial_model

    trials_of = _ensemble_size()
    spec, task, _ = trials_of.read_trials(folder, name)
    pool = with_validation_in_training(task)
    settings = trials_of.trial_settings(spec)
    results = next(folder.glob("results/*/summary.json")).parent
    members = json.loads((results / "summary.json").read_text())["ensemble_of"]
    trials = {}
    for path in results.glob("ray-*/_trainable_*/result.json"):
        lines = path.read_text().strip().splitlines()
        if lines:
            last = json.loads(lines[-1])
            trials[last["trial_number"]] = (path.parent, last)
    columns = [[] for _ in COLUMNS]
    for number in members:
        folder_of_trial, last = trials[number]
        checkpoint = sorted(folder_of_trial.glob("checkpoint_*/model.keras"))[-1]
        refit = results / f"refit-{number}.keras"
        own = predict(_load(checkpoint), task.x_test)
        registered = predict(_load(refit), task.x_test) if refit.exists() else own
        values = trials_of.trial_values(spec, last["config"])
        epochs, batch = last["best_epoch"], values["batch_size"]
        updates = epochs * math.ceil(len(task.x_train) / batch)
        same_updates = round(updates / math.ceil(len(pool.x_train) / batch))
        refits = []
        for count in (epochs, same_updates):
            model, _ = build_trial_model(values, number, pool, settings)
            if count:
                model.fit(pool.x_train, pool.y_train, batch_size=batch, epochs=count, verbose=0)
            refits.append(predict(model, task.x_test))
        for column, prediction in zip(columns[:4], (registered, own, *refits), strict=True):
            column.append(prediction)
        columns[4] += [registered, own]
    return [_mse(column, task.y_test) for column in columns]


def _mse(predictions, y) -> float:
    return float(np.mean((np.mean(predictions, axis=0).reshape(y.shape) - y) ** 2))


def _load(path: Path):
    import keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.saving.load_model(path, compile=False)


def _ensemble_size():
    """benchmarks/ensemble_size.py as a module, for its reading of a search's trials."""
    spec = importlib.util.spec_from_file_location("ensemble_size", HERE / "ensemble_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    main()
