"""Which rule builds the better registered ensemble, judged on held-out cases the rule never saw.

Greedy ensemble selection always wins on the cases it selects on, so that comparison says
nothing. This benchmark takes the held-out predictions the trials of finished suite searches
saved (out of fold under cross-validation, else on the validation split; search.trial), splits
those cases in two at random, lets each rule choose on one half only and scores its ensemble on
the other half; repeated over many splits. No test case is read: it is a comparison on
validation data, fit for choosing a default.

Rules (each sees only the selection half):
- best: the single best candidate;
- top: the best `ensemble` candidates, equal weights, less those clearly worse (search.selection);
- greedy: search.ensemble_selection.greedy_weights.

    python benchmarks/suite.py --sets Covid3Month_disc,ArrowHead    # prints its folder
    python benchmarks/ensemble_selection.py /tmp/gru-search-suite-XXXX --splits 200

A folder is a suite run's (one subfolder per set) or one set's.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

# benchmarks/cells.py (another benchmark) would shadow the `cells` package for a script run from here.
HERE = Path(__file__).parent.resolve()
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--splits", type=int, default=200)
    args = parser.parse_args()
    rows = []
    for folder in args.folders:
        sets = [folder] if (folder / "results").is_dir() else sorted(folder.iterdir())
        rows += [_compare(s, args.splits) for s in sets if (s / "results").is_dir()]
    print(_table(rows, args.splits))


def _compare(folder: Path, splits: int) -> dict:
    from search.data.folds import resolve_folds
    from search.ensemble_selection import (
        MAX_CANDIDATES,
        greedy_weights,
        held_out_predictions,
        selection_score,
    )

    spec, task = _spec_and_task(folder)
    s = spec.search
    folds = resolve_folds(s.folds, task, s.time_budget_minutes)
    trials = _trials(folder / "results" / spec.name, s)[:MAX_CANDIDATES]
    predictions, y = held_out_predictions([t.checkpoint for t in trials], task, folds, s.seed)
    score = selection_score(task.kind, s.objective.metric, s.objective.mode)
    metric = "accuracy" if task.kind == "classification" else "mse"
    rng = np.random.default_rng(0)
    results = {"best": [], "top": [], "greedy": []}
    for _ in range(splits):
        order = rng.permutation(len(y))
        chosen_on, scored_on = order[: len(y) // 2], order[len(y) // 2 :]
        on_a, y_a = [p[chosen_on] for p in predictions], y[chosen_on]
        weights = {
            "best": _best(on_a, y_a, score),
            "top": _top(on_a, y_a, score, s, task.kind),
            "greedy": greedy_weights(on_a, functools.partial(score, y=y_a), s.ensemble),
        }
        for rule, counts in weights.items():
            mixed = np.average([p[scored_on] for p in predictions], axis=0, weights=counts)
            results[rule].append(_metric(mixed, y[scored_on], metric))
    greedy, top = np.array(results["greedy"]), np.array(results["top"])
    better = greedy > top if metric == "accuracy" else greedy < top
    worse = greedy < top if metric == "accuracy" else greedy > top
    return {
        "set": folder.name,
        "held_out": len(y),
        "trials": len(trials),
        "metric": metric,
        **{rule: float(np.mean(values)) for rule, values in results.items()},
        "greedy_better": float(np.mean(better)),
        "greedy_worse": float(np.mean(worse)),
    }


def _best(predictions, y, score) -> list[int]:
    keys = [score(p, y) for p in predictions]
    best = min(range(len(keys)), key=keys.__getitem__)
    return [int(i == best) for i in range(len(keys))]


def _top(predictions, y, score, search, kind: str) -> list[int]:
    """search.selection's rule, ranking by the selection half's own score."""
    from search.selection import ensemble_members

    keys = [score(p, y) for p in predictions]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    # The objective the rule filters by: accuracy where it is the search's, else the loss.
    ranked = [SimpleNamespace(index=i, objective=-keys[i][0]) for i in order]
    if kind != "classification" or "accuracy" not in search.objective.metric:
        ranked = [SimpleNamespace(index=i, objective=keys[i][0]) for i in order]
    members = ensemble_members(ranked, search.ensemble, search.objective.metric, len(y))
    chosen = {m.index for m in members}
    return [int(i in chosen) for i in range(len(keys))]


def _metric(prediction, y, metric: str) -> float:
    if metric == "accuracy":
        return float(np.mean(prediction.argmax(axis=1) == y))
    return float(np.mean((prediction.reshape(-1) - np.asarray(y).reshape(-1)) ** 2))


def _spec_and_task(folder: Path):
    """The suite's default spec for the set the folder is named after, and its prepared Task."""
    import importlib.util

    from search.data import prepare
    from search.spec import parse_spec

    loader = importlib.util.spec_from_file_location("suite", HERE / "suite.py")
    suite = sys.modules.setdefault("suite", importlib.util.module_from_spec(loader))
    loader.loader.exec_module(suite)
    (data_set,) = [d for d in suite.SETS + suite.OFF_TABLE_SETS if d.name == folder.name]
    mapping = suite.default_mapping(data_set, folder)
    spec = parse_spec(mapping, folder)
    return spec, prepare(spec.data, spec.search.seed)


def _trials(results_dir: Path, search) -> list:
    """The search's completed trials with their best checkpoints, best by objective first."""
    from search import tune
    from search.trial import STATE_FILE, sort_key

    states = {}
    for path in results_dir.glob(f"ray-*/*/checkpoint_*/{STATE_FILE}"):
        state = json.loads(path.read_text())
        states[str(state["trial_number"])] = state  # any: only the number is read from it
    trials = []
    for number in states:
        checkpoint = tune.latest_checkpoint(str(results_dir), number)
        state = json.loads(Path(checkpoint).with_name(STATE_FILE).read_text())
        key = sort_key(
            state["best_objective"], state["best_tiebreak"], search.objective.mode, "min"
        )
        trials.append(SimpleNamespace(number=number, checkpoint=checkpoint, key=key))
    return sorted(trials, key=lambda t: (t.key, t.number))


def _table(rows: list[dict], splits: int) -> str:
    lines = [
        f"registered-ensemble rules, each choosing on a random half of the held-out cases and "
        f"scored on the other half ({splits} splits; mean of the scored halves)",
        f"{'set':<18} {'held out':>8} {'trials':>6} {'metric':>8} {'best':>9} {'top':>9} "
        f"{'greedy':>9} {'greedy/top':>10} {'greedy better':>13} {'worse':>6}",
    ]
    for r in rows:
        ratio = r["greedy"] / r["top"]
        lines.append(
            f"{r['set']:<18} {r['held_out']:>8} {r['trials']:>6} {r['metric']:>8} "
            f"{r['best']:>9.4g} {r['top']:>9.4g} {r['greedy']:>9.4g} {ratio:>10.3f} "
            f"{r['greedy_better']:>13.0%} {r['greedy_worse']:>6.0%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
