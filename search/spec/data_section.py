"""The `data` section: where the data comes from, what to predict, how to split it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cells.architecture import HEAD_KINDS
from search.spec.fields import Fields, is_int, is_number, section
from search.spec.model import MISSING_POLICIES, DataSpec
from search.spec.problems import Problems, join

DATA_KEYS = (
    "source", "task", "validation", "test_size", "id_column", "time_column", "label_column",
    "split_column", "features", "target", "window", "horizon", "stride", "missing",
    "allow_pickle",
)  # fmt: skip
FORECASTING_ONLY = ("target", "window", "horizon", "stride")
SEQUENCE_TABLE_ONLY = ("id_column", "label_column", "split_column")
FILE_EXTENSIONS = (".csv", ".parquet", ".pq", ".npz")

# Built-in sources and the task each one is.
_AEON = re.compile(r"^aeon:[A-Za-z][A-Za-z0-9_]*$")
_ADDING = re.compile(r"^adding(:[A-Za-z]+=[0-9]+(,[A-Za-z]+=[0-9]+)*)?$")
BUILTIN_FORMS = "aeon:<Name>, airline, adding, adding:T=<steps>"


def builtin_task(source: str) -> str | None:
    """The task of a built-in source, or None when `source` names a file."""
    if _AEON.match(source):
        return "classification"
    if source == "airline":
        return "forecasting"
    if _ADDING.match(source):
        return "regression"
    return None


def parse_data(
    problems: Problems, value: Any, base_dir: Path, path: str = "data"
) -> DataSpec | None:
    if value is None:
        problems.add(path, "is required: a mapping with at least `source` (and `task` for a file)")
        return None
    mapping = section(problems, value, path, DATA_KEYS)
    fields = Fields(problems, mapping, path)
    source = fields.text("source")
    task = fields.text("task", None, choices=HEAD_KINDS)
    if isinstance(source, str):
        # `task: null` is left out, as every null field is: a built-in's task is inferred.
        source, task = _source(problems, path, source, task, base_dir, fields.given("task"))
    validation = fields.number(
        "validation", 0.2, above=0, below=1, what="a fraction between 0 and 1 (exclusive)"
    )
    test_size = mapping.get("test_size")
    if test_size is not None and not (
        (is_int(test_size) and test_size >= 1) or (is_number(test_size) and 0 < test_size < 1)
    ):
        problems.expected(
            join(path, "test_size"), "a fraction in (0, 1), a positive count or null", test_size
        )
    if task is not None:
        _fields_for_task(problems, path, mapping, task)
    window = fields.integer("window", None, minimum=1)
    # A built-in series has its benchmark's window (airline: 24 months).
    if task == "forecasting" and window is None and builtin_task(str(source)) is None:
        problems.add(
            join(path, "window"), "is required for forecasting from a file (input steps per window)"
        )
    target = fields.names("target")
    if task == "forecasting" and target is None and builtin_task(str(source)) is None:
        problems.add(join(path, "target"), "is required for forecasting from a file (column names)")
    spec = dict(
        source=source,
        task=task,
        validation=validation,
        test_size=test_size,
        id_column=fields.text("id_column", "sequence_id"),
        time_column=fields.text("time_column", "time"),
        label_column=fields.text("label_column", "label"),
        split_column=fields.text("split_column", "split"),
        features=fields.names("features"),
        target=target,
        window=window,
        horizon=fields.integer("horizon", None, minimum=1),
        stride=fields.integer("stride", 1, minimum=1),
        missing=fields.text("missing", "error", choices=MISSING_POLICIES),
        allow_pickle=fields.boolean("allow_pickle", False),
        base_dir=str(base_dir),
    )
    if problems or source is None or task is None:
        return None
    return DataSpec(**spec)


def _source(
    problems: Problems, path: str, source: str, task: str | None, base_dir: Path, task_given: bool
) -> tuple[str | None, str | None]:
    inferred = builtin_task(source)
    if inferred is not None:
        # aeon ships regression problems too (Covid3Month): its loader tells them apart.
        if (
            task is not None
            and task != inferred
            and not (source.startswith("aeon:") and task == "regression")
        ):
            problems.add(join(path, "task"), f"{source} is a {inferred} dataset, got {task!r}")
        return source, task or (None if task_given else inferred)
    if source.startswith(("aeon:", "adding")):
        problems.expected(
            join(path, "source"), f"a built-in name ({BUILTIN_FORMS}) or a file", source
        )
        return None, task
    if not source.lower().endswith(FILE_EXTENSIONS):
        problems.expected(
            join(path, "source"),
            f"a built-in name ({BUILTIN_FORMS}) or a file ending in {', '.join(FILE_EXTENSIONS)}",
            source,
        )
        return None, task
    if task is None and not task_given:
        problems.add(
            join(path, "task"), f"is required for a file source: one of {', '.join(HEAD_KINDS)}"
        )
    # Trials run in other working directories: a relative path is taken from the spec's folder.
    return str((base_dir / Path(source).expanduser()).resolve()), task


def _fields_for_task(problems: Problems, path: str, mapping: dict, task: str) -> None:
    wrong = SEQUENCE_TABLE_ONLY if task == "forecasting" else FORECASTING_ONLY
    for key in wrong:
        if key in mapping:
            problems.add(
                join(path, key),
                f"is not used for {task}; "
                + (
                    "it applies to forecasting"
                    if task != "forecasting"
                    else "it applies to classification and regression"
                ),
            )
