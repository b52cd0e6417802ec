"""Augmentation and label smoothing for the default first trial, scored on held-out training cases.

Issue 11 asked whether what the literature reports for small time-series sets helps here: window
slicing (a random 90 % crop stretched back to full length, Le Guennec et al. 2016), Gaussian
jitter (sigma 3 % of the data's spread, Um et al. 2017), label smoothing (0.1, Szegedy et al.
2016) and a cosine learning-rate decay to 0 over the run (Loshchilov & Hutter 2017). Each trains the default first trial (GRU-FCN: gru 64 beside an FCN of 64 filters, revin,
dropout 0.2, Adam 1e-3, batch 16) on aeon's *training* split cut 75/25 (stratified, one cut per
seed), augmenting afresh every epoch, and scores the 25 %: never the test split.

    python benchmarks/small_data_regularisers.py [--data ACSF1] [--seeds 3] [--epochs 100]

Prints one row per variant: the mean held-out accuracy at epochs 20, 40, 60 and 100 over the seeds,
and last the bar on the same cuts: aeon's MiniRocketClassifier(random_state=0), its accuracy in
every column.
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

VARIANTS = ("none", "window_slicing", "jitter", "label_smoothing", "cosine_decay")
MARKS = (20, 40, 60, 100, 150, 200)


def window_slicing(x: np.ndarray, rng: np.random.Generator, ratio: float = 0.9) -> np.ndarray:
    """Each series cropped to `ratio` of its steps at a random start, stretched back linearly."""
    cases, steps, channels = x.shape
    kept = max(2, round(steps * ratio))
    grid = np.linspace(0, kept - 1, steps)
    out = np.empty_like(x)
    for i, start in enumerate(rng.integers(0, steps - kept + 1, cases)):
        for c in range(channels):
            out[i, :, c] = np.interp(grid, np.arange(kept), x[i, start : start + kept, c])
    return out


def augmented(x: np.ndarray, rng: np.random.Generator, variant: str) -> np.ndarray:
    if variant == "window_slicing":
        return window_slicing(x, rng)
    if variant == "jitter":
        return x + rng.normal(0.0, 0.03 * x.std(), x.shape).astype(x.dtype)
    return x


def _curve(x, y, x_score, y_score, classes: int, variant: str, seed: int, epochs: int) -> list:
    import keras

    from cells.architecture import Architecture, Head
    from cells.builder import build_model, compile_model
    from search.trial import auto_downsample

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    head = Head("classification", classes)
    arch = Architecture(fcn="fcn", fcn_filters=64, units=64, dropout=0.2, revin=True,
                        downsample=auto_downsample(x.shape[1]))  # fmt: skip
    model = build_model(
        arch, x.shape[1:], head, feature_mean=x.mean((0, 1)), feature_std=x.std((0, 1))
    )
    if variant == "label_smoothing":
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
        model.compile(keras.optimizers.Adam(1e-3), loss)
        y = keras.utils.to_categorical(y, classes)
    elif variant == "cosine_decay":
        updates = epochs * -(-len(x) // 16)  # batches of 16
        schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=updates)
        compile_model(model, head, 1e-3)  # the trial's loss and metrics, then its optimiser
        optimizer = keras.optimizers.Adam(schedule, clipnorm=1.0)  # decayed
        model.compile(optimizer, loss=model.loss, metrics=["accuracy"])
    else:
        compile_model(model, head, 1e-3)
    accuracies = []
    for epoch in range(1, epochs + 1):
        model.fit(augmented(x, rng, variant), y, batch_size=16, epochs=1, verbose=0)
        if epoch in MARKS:
            predicted = model.predict(x_score, verbose=0).argmax(1)
            accuracies.append(float((predicted == y_score).mean()))
    return accuracies


def main() -> None:
    from aeon.datasets import load_classification
    from sklearn.model_selection import train_test_split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ACSF1", help="an aeon set of one length")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    x, labels = load_classification(args.data, split="train")
    x = np.transpose(np.asarray(x, dtype="float32"), (0, 2, 1))
    classes, y = np.unique(labels, return_inverse=True)
    marks = [e for e in MARKS if e <= args.epochs]
    print(f"| {args.data} | " + " | ".join(f"epoch {e}" for e in marks) + " | seconds |")
    print("|---" * (len(marks) + 2) + "|")
    for variant in args.variants:
        started = time.perf_counter()
        curves = []
        for seed in range(args.seeds):
            parts = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
            x_fit, x_score, y_fit, y_score = parts
            curves.append(
                _curve(x_fit, y_fit, x_score, y_score, len(classes), variant, seed, args.epochs)
            )
        mean = np.mean(curves, 0)
        cells = " | ".join(f"{a:.3f}" for a in mean)
        print(f"| {variant} | {cells} | {time.perf_counter() - started:.0f} |", flush=True)
    started = time.perf_counter()
    accuracy = np.mean([_minirocket(x, y, seed) for seed in range(args.seeds)])
    cells = " | ".join(f"{accuracy:.3f}" for _ in marks)
    print(f"| MiniRocket | {cells} | {time.perf_counter() - started:.0f} |")


def _minirocket(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    from aeon.classification.convolution_based import MiniRocketClassifier
    from sklearn.model_selection import train_test_split

    parts = train_test_split(np.transpose(x, (0, 2, 1)), y, test_size=0.25, stratify=y,
                             random_state=seed)  # fmt: skip
    x_fit, x_score, y_fit, y_score = parts
    predicted = MiniRocketClassifier(random_state=0).fit(x_fit, y_fit).predict(x_score)
    return float((predicted == y_score).mean())


if __name__ == "__main__":
    main()
