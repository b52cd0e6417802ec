"""Fixtures for the search.data tests: DataSpecs, and writers for the same data in every format."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from search.spec import DataSpec


def make_spec(source: str, task: str = "classification", **changes) -> DataSpec:
    """The real `search.spec.DataSpec`, built directly (paths absolute or under base_dir)."""
    return DataSpec(source=source, task=task, **changes)


def one_sentence(message: str) -> bool:
    """A user-facing error is one sentence: it ends with a full stop and has no second sentence."""
    return message.endswith(".") and re.search(r"[.;?!]\s+[A-Z][a-z]", message) is None


def variable_length_cases(num_cases: int = 60, num_features: int = 3, seed: int = 1):
    """Sequences of 5..12 steps with string labels in three classes; label shifts the mean."""
    rng = np.random.default_rng(seed)
    labels = np.array(["cat", "dog", "emu"])[np.arange(num_cases) % 3]
    lengths = rng.integers(5, 13, size=num_cases)
    shift = {"cat": 0.0, "dog": 2.0, "emu": -2.0}
    cases = [
        rng.normal(shift[label], 1.0, size=(length, num_features))
        for label, length in zip(labels, lengths, strict=True)
    ]
    return cases, labels


def long_frame(cases, labels, split=None, feature_names=None) -> pd.DataFrame:
    """The long format: one row per time step, with sequence_id, time, features, label (, split)."""
    names = feature_names or [f"f{i}" for i in range(cases[0].shape[1])]
    frames = []
    for index, (case, label) in enumerate(zip(cases, labels, strict=True)):
        frame = pd.DataFrame(case, columns=names)
        frame.insert(0, "time", np.arange(len(case)))
        frame.insert(0, "sequence_id", f"s{index:04d}")
        frame["label"] = label
        if split is not None:
            frame["split"] = split[index]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_npz(path: Path, cases, labels, split=None) -> Path:
    def as_objects(items):
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array

    if split is None:
        np.savez(path, x_train=as_objects(cases), y_train=np.asarray(labels))
    else:
        test = np.asarray(split) == "test"
        np.savez(
            path,
            x_train=as_objects([c for c, t in zip(cases, test, strict=True) if not t]),
            y_train=np.asarray(labels)[~test],
            x_test=as_objects([c for c, t in zip(cases, test, strict=True) if t]),
            y_test=np.asarray(labels)[test],
        )
    return path
