"""The default first trial with and without MiniRocket's ridge start, on held-out training cases.

Issue 11: on the small sets of the table, GRU-FCN trained from random weights ended far below
MiniRocket (ACSF1, PickupGestureWiimoteZ). `Architecture.minirocket` puts MiniRocket's features
beside the network with a frozen ridge readout that training starts from (cells.minirocket).
This trains the default first trial (GRU-FCN: gru 64 beside an FCN of 64 filters, revin,
dropout 0.2, Adam 1e-3 on a cosine, batch 16) with and without it on aeon's *training* split
cut 75/25 (stratified, one cut per seed), and scores the 25 %: never the test split.

    python benchmarks/minirocket_start.py [--data ACSF1 PickupGestureWiimoteZ] [--seeds 2] [--epochs 60]

Prints one row per set and model: the mean held-out accuracy at the start (epoch 0: for the
MiniRocket start, the ridge classifier alone) and after 20, 40 and 60 epochs, and on the same
cuts aeon's MiniRocketClassifier(random_state=0), variable-length series edge-padded for it as
benchmarks/suite.py does.
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

MARKS = (0, 20, 40, 60, 100, 150)


def load(name: str):
    """aeon's training split as (cases, steps, channels), shorter series NaN pre-padded."""
    from aeon.datasets import load_classification

    x, labels = load_classification(name, split="train")
    if isinstance(x, list):  # several lengths
        steps = max(s.shape[-1] for s in x)
        x = [np.pad(s.astype("float32"), ((0, 0), (steps - s.shape[-1], 0)),
                    constant_values=np.nan) for s in x]  # fmt: skip
    x = np.transpose(np.asarray(x, dtype="float32"), (0, 2, 1))
    classes, y = np.unique(labels, return_inverse=True)
    return x, y, len(classes)


def curve(x, y, x_score, y_score, classes: int, minirocket: bool, seed: int, epochs: int):
    import keras

    from cells.architecture import Architecture, Head
    from cells.builder import build_model, compile_model
    from cells.minirocket import start_at_ridge
    from search.trial import auto_downsample

    keras.utils.set_random_seed(seed)
    head = Head("classification", classes)
    arch = Architecture(fcn="fcn", fcn_filters=64, units=64, dropout=0.2, revin=True,
                        minirocket=minirocket, downsample=auto_downsample(x.shape[1]))  # fmt: skip
    model = build_model(
        arch,
        (None, x.shape[2]),
        head,
        feature_mean=np.nanmean(x, (0, 1)),
        feature_std=np.nanstd(x, (0, 1)),
        series_length=x.shape[1],
    )
    if minirocket:
        start_at_ridge(model, x, y)
    updates = epochs * -(-len(x) // 16)  # batches of 16
    compile_model(model, head, 1e-3, decay_steps=updates)

    def accuracy() -> float:
        return float((model.predict(x_score, verbose=0).argmax(1) == y_score).mean())

    accuracies = [accuracy()]
    for epoch in range(1, epochs + 1):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        if epoch in MARKS:
            accuracies.append(accuracy())
    return accuracies


def minirocket_alone(x_fit, y_fit, x_score, y_score) -> float:
    from aeon.classification.convolution_based import MiniRocketClassifier

    def edge_padded(x):  # as benchmarks/suite.py feeds MiniRocket: (cases, channels, steps)
        real = ~np.isnan(x).all(axis=2)
        first = x[np.arange(len(x)), real.argmax(axis=1)]
        return np.where(real[:, :, None], x, first[:, None, :]).transpose(0, 2, 1)

    model = MiniRocketClassifier(random_state=0).fit(edge_padded(x_fit), y_fit)
    return float((model.predict(edge_padded(x_score)) == y_score).mean())


def main() -> None:
    from sklearn.model_selection import train_test_split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["ACSF1", "PickupGestureWiimoteZ"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()
    marks = [e for e in MARKS if e <= args.epochs]
    print("| set | model | " + " | ".join(f"epoch {e}" for e in marks) + " | seconds |")
    print("|---" * (len(marks) + 3) + "|")
    for name in args.data:
        x, y, classes = load(name)
        cuts = [train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
                for seed in range(args.seeds)]  # fmt: skip
        for label, minirocket in (("first trial", False), ("first trial + minirocket", True)):
            started = time.perf_counter()
            curves = [
                curve(x_fit, y_fit, x_score, y_score, classes, minirocket, seed, args.epochs)
                for seed, (x_fit, x_score, y_fit, y_score) in enumerate(cuts)
            ]
            cells = " | ".join(f"{a:.3f}" for a in np.mean(curves, 0))
            print(
                f"| {name} | {label} | {cells} | {time.perf_counter() - started:.0f} |", flush=True
            )
        started = time.perf_counter()
        alone = np.mean([minirocket_alone(xf, yf, xs, ys) for xf, xs, yf, ys in cuts])
        cells = " | ".join(f"{alone:.3f}" for _ in marks)
        print(f"| {name} | MiniRocket | {cells} | {time.perf_counter() - started:.0f} |")


if __name__ == "__main__":
    main()
