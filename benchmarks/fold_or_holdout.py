"""Five fold models or one longer-trained model, for the same compute, scored on held-out cases.

Why `search.folds: auto` keeps one holdout on long series (search/data/folds.py): under a time
budget, k fold models get 1/k of the epochs one model would. This trains the default first trial
(GRU-FCN: gru 64 beside an FCN of 64 filters, revin, dropout 0.2, Adam 1e-3, batch 16) both ways
on aeon's *training* split of each set, cut 75/25 (stratified, seed 0), and scores both on the
25 %: never the test split.
  - folds: k models, each trained on a (k-1)/k stratified fold of the 75 % for E epochs, their
    probabilities averaged (as a cross-validated trial registers its fold models);
  - holdout: one model on the whole 75 % for k x E epochs.

    python benchmarks/fold_or_holdout.py [--data OSULeaf ACSF1] [--folds 5] [--epochs 24]

Prints one row per set: the accuracy and seconds of each, measured in this run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# benchmarks/cells.py (another benchmark) would shadow the `cells` package for a script run from here.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _inner_split(name: str):
    """aeon's training split of `name` as (steps, channels) series, cut 75/25 by class."""
    from aeon.datasets import load_classification
    from sklearn.model_selection import train_test_split

    x, y = load_classification(name, split="train")
    x = np.transpose(np.asarray(x, dtype="float32"), (0, 2, 1))
    classes, y = np.unique(y, return_inverse=True)
    return (*train_test_split(x, y, test_size=0.25, stratify=y, random_state=0), len(classes))


def _probabilities(x, y, x_score, classes: int, epochs: int) -> np.ndarray:
    import keras

    from cells.architecture import Architecture, Head
    from cells.builder import build_model, compile_model
    from search.trial import auto_downsample

    keras.utils.set_random_seed(0)
    head = Head("classification", classes)
    arch = Architecture(fcn="fcn", fcn_filters=64, units=64, dropout=0.2, revin=True,
                        downsample=auto_downsample(x.shape[1]))  # fmt: skip
    model = build_model(
        arch, x.shape[1:], head, feature_mean=x.mean((0, 1)), feature_std=x.std((0, 1))
    )
    compile_model(model, head, 1e-3).fit(x, y, batch_size=16, epochs=epochs, verbose=0)
    return model.predict(x_score, verbose=0)


def _row(name: str, folds: int, epochs: int) -> str:
    from sklearn.model_selection import StratifiedKFold

    x, x_score, y, y_score, classes = _inner_split(name)
    started = time.perf_counter()
    parts = StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y)
    averaged = np.mean([_probabilities(x[a], y[a], x_score, classes, epochs) for a, _ in parts], 0)
    folds_s = time.perf_counter() - started
    started = time.perf_counter()
    one = _probabilities(x, y, x_score, classes, folds * epochs)
    one_s = time.perf_counter() - started
    accuracy = [float((p.argmax(1) == y_score).mean()) for p in (averaged, one)]
    return (f"| {name} | {len(x)} / {len(x_score)} | {accuracy[0]:.3f} ({folds_s:.0f} s) | "
            f"{accuracy[1]:.3f} ({one_s:.0f} s) | {accuracy[1] - accuracy[0]:+.3f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["OSULeaf", "ACSF1"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=24, help="epochs of each fold model")
    args = parser.parse_args()
    k, e = args.folds, args.epochs
    print(
        f"| set | trained / scored | {k} folds x {e} epochs | 1 model x {k * e} epochs | difference |"
    )
    print("|---|---|---|---|---|")
    for name in args.data:
        print(_row(name, k, e), flush=True)


if __name__ == "__main__":
    main()
