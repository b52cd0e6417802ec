"""How many of a finished search's trials to average, measured on its own trials' checkpoints.

For each set of an earlier `benchmarks/suite.py` run (its search folders stay in /tmp), this
loads every trial's best checkpoint, ranks the trials by their validation objective as the
search did, and prints the test metric of the average of the top k (k = 1, 3, 5, 10, 20, all)
beside the validation metric of the same average. These are the trials' own models, not the
refit the search registers. Choose by the test column only on sets outside the suite's table
(its OFF_TABLE_SETS); on the table's sets read the validation column.

    python benchmarks/ensemble_size.py /tmp/gru-search-suite-XXXX PBS,Solar
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a suite run's folder (its header names it)")
    parser.add_argument("sets", type=lambda text: text.split(","))
    args = parser.parse_args()
    from search.cli import quiet_output

    quiet_output()
    header = ["set", "trials", *(f"top {k or 'all'}" for k in SIZES)]
    print(" | ".join(header))
    for name in args.sets:
        val, test, count = _measure(args.root / name, name)
        print(
            " | ".join(
                [
                    name,
                    str(count),
                    *(f"{t:.4g} (val {v:.4g})" for v, t in zip(val, test, strict=True)),
                ]
            )
        )


def _measure(folder: Path, name: str):
    import keras

    from search import registry
    from search.data import prepare
    from search.data.metrics import predict
    from search.spec import parse_spec

    suite = _suite()
    data_set = next(s for s in suite.SETS + suite.OFF_TABLE_SETS if s.name == name)

    class Defaults:
        budget_minutes = seed = folds = None

    scratch = Path(tempfile.mkdtemp()) / name
    scratch.mkdir()
    spec = parse_spec(suite.default_mapping(data_set, scratch, Defaults), scratch)
    task = prepare(spec.data, spec.search.seed)
    registry.register_cells()
    trials = []
    for result in (folder / "results").glob("*/ray-*/_trainable_*/result.json"):
        lines = result.read_text().strip().splitlines()
        if not lines:
            continue
        objective = json.loads(lines[-1]).get("best_objective")
        checkpoints = sorted(result.parent.glob("checkpoint_*/model.keras"))
        if objective is None or not np.isfinite(objective) or not checkpoints:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(checkpoints[-1], compile=False)
        trials.append((objective, predict(model, task.x_val), predict(model, task.x_test)))
    trials.sort(key=lambda t: t[0])  # every forecasting and regression objective is minimised

    def mse(predictions, y):
        return float(np.mean((np.mean(predictions, axis=0).reshape(y.shape) - y) ** 2))

    val, test = [], []
    for k in SIZES:
        top = trials[: k or len(trials)]
        val.append(mse([t[1] for t in top], task.y_val))
        test.append(mse([t[2] for t in top], task.y_test))
    return val, test, len(trials)


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
