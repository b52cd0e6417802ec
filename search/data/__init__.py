"""Data in: built-in datasets and the user's files, split and described as a `Task`.

`prepare(data_spec, seed)` does all of it before any training; every problem with the data is a
`DataError` naming the fix. `evaluate(model, task, split)` gives a model's metrics on raw inputs.
"""

from search.data.metrics import evaluate
from search.data.prepare import prepare
from search.data.task import Task

__all__ = ["Task", "evaluate", "prepare"]
