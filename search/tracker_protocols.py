"""What each part of a search asks of its tracker, as Protocols (MLflow is not imported here).

`search.tracking.Tracker` satisfies every one of them (tests/search/test_tracker_protocols.py
pins that); the unit tests' in-memory fakes (tests/fakes.py) implement the ones they stand in
for. Each Protocol is the slice one module calls, so a fake needs no more than that slice.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from search.tracking import RunRow


class RunEnder(Protocol):
    def log_metrics(self, run_id: str, metrics: dict, step: int = 0) -> None: ...

    def end_run(self, run_id: str, status: str, reason: str | None = None) -> None: ...


class TrialTracker(RunEnder, Protocol):
    """What search.trial calls: one nested run per trial, its parameters and per-epoch curves."""

    def start_trial(
        self, experiment_id: str, parent_run_id: str, number: str, values: dict
    ) -> str: ...

    def log_params(self, run_id: str, params: dict) -> None: ...

    def set_tags(self, run_id: str, tags: dict) -> None: ...

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None: ...

    def end_run_if_running(self, run_id: str, status: str) -> None: ...


class RefitTracker(RunEnder, Protocol):
    """What search.refit calls: one nested run per refit of a chosen trial."""

    def start_refit(
        self, experiment_id: str, parent_run_id: str, number: str, values: dict, epochs: int
    ) -> str: ...


class ChampionRegistry(Protocol):
    """What search.registry.register_and_promote calls: a new version, and the champion alias."""

    def register(self, name: str, source: str, run_id: str, tags: dict) -> str: ...

    def set_tags(self, run_id: str, tags: dict) -> None: ...

    def version_by_alias(self, name: str, alias: str): ...

    def set_alias(self, name: str, alias: str, version: str) -> None: ...

    def exclusive(self, key: str) -> AbstractContextManager: ...


class SearchTracker(RunEnder, Protocol):
    """What search.driver calls: the experiment, the parent run, and its trials' runs."""

    uri: str

    def ensure_experiment(self, name: str, artifact_location: str | None = None) -> str: ...

    def start_search(
        self,
        experiment_id: str,
        name: str,
        params: dict,
        spec_text: str,
        *,
        description: str = "",
        spec_path: str | None = None,
    ) -> str: ...

    def log_dataset(
        self, run_id: str, name: str, digest: str, source: dict, profile: dict, context: str
    ) -> None: ...

    def set_tags(self, run_id: str, tags: dict) -> None: ...

    def run(self, run_id: str) -> RunRow: ...

    def reopen(self, run_id: str) -> None: ...

    def close_running_children(
        self, experiment_id: str, parent_run_id: str, reason: str, status: str = "KILLED"
    ) -> None: ...

    def stop_trial_early(
        self, experiment_id: str, parent_run_id: str, number: str, reason: str
    ) -> None: ...
