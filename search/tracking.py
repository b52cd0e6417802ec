"""Everything that talks to MLflow's tracking store and registry, through `MlflowClient`.

Trials run in other processes, so every call names its run explicitly (no fluent
`mlflow.start_run` globals). A trial's run is nested under its search's run with the
`mlflow.parentRunId` tag, which is how the MLflow UI draws the tree.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from search import credentials
from search.errors import GruSearchError, TrackingError, TrackingUnreachable

PARENT_TAG = "mlflow.parentRunId"
# The run's description, as the MLflow UI edits and shows it.
DESCRIPTION_TAG = "mlflow.note.content"
RUN_NAME_TAG = "mlflow.runName"
TRIAL_TAG = "trial_number"
# 1 for a trial's first run; a retry after a worker died opens the same trial's next attempt.
ATTEMPT_TAG = "attempt"
REASON_TAG = "status_reason"
# On a trial's run that Ray Tune's scheduler (ASHA, HyperBand) stopped early: the run is KILLED,
# this tag says by what, and its best epoch still counts.
STOPPED_BY_TAG = "stopped_by"
# Marks the run of a refit (search.refit): the trial whose configuration it trained again.
REFIT_TAG = "refit_of"
# Marks a search's parent run, so `gru-search trials` can tell searches from trials.
SEARCH_TAG = "gru_search.search"
_MAX_PARAM_LENGTH = 6000
# A registry lock older than this (seconds) was left by a process that died while holding it.
LOCK_STALE_S = 120.0
# Seconds a call keeps retrying while the store is unreachable or locked (a server restart takes
# 10-30 s); after that the error is raised. Metrics are buffered instead of waiting (see log_metrics).
PATIENCE_S = 300.0
# Words in the errors of a store that is briefly away: a locked SQLite file, a restarting server.
_TRANSIENT = (
    "locked",
    "connection refused",
    "max retries exceeded",
    "failed to establish",
    "connection aborted",
    "connection reset",
    "remotedisconnected",
    "timed out",
    "temporarily unavailable",
    "bad gateway",
    "service unavailable",
    "gateway timeout",
    "too many 503",
    "too many 502",
    "too many 500",
)


def best_metric(objective: str) -> str:
    """The metric of a trial's (and a search's) best value of `objective`: best_val_loss."""
    return f"best_{objective}"


def tiebreak_metric(tiebreak: str) -> str:
    """The metric of the tie-breaker's value at a trial's best epoch: val_loss_at_best_epoch."""
    return f"{tiebreak}_at_best_epoch"


def finite_or_none(value) -> float | None:
    """`value` as a float, or None where it is missing, not a number, NaN or infinite (a metric
    a run never logged, or the NaN a trial reports before its first best epoch)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def transient(error: BaseException) -> bool:
    """Whether `error` says the store is briefly unavailable (retry) rather than that a call is wrong."""
    if isinstance(error, GruSearchError):
        return False  # raised on purpose, with its message: retrying would not change it
    text = f"{type(error).__name__}: {error}".lower()
    return isinstance(error, ConnectionError | TimeoutError) or any(
        word in text for word in _TRANSIENT
    )


def context_tags(spec_path: str | None) -> dict[str, str]:
    """MLflow's run-context tags (`mlflow.user`, `mlflow.source.type`, ...), with the spec file as
    `mlflow.source.name` (what the runs table's Source column shows) and, where the spec lies in a
    git work tree, that tree's commit, branch and remote: the user's project, not this tool's."""
    from mlflow.tracking.context.registry import resolve_tags
    from mlflow.utils import git_utils
    from mlflow.utils.mlflow_tags import (
        MLFLOW_GIT_BRANCH,
        MLFLOW_GIT_COMMIT,
        MLFLOW_GIT_REPO_URL,
        MLFLOW_SOURCE_NAME,
    )

    # resolve_tags() reads the git repository of the running script (this tool's): never kept.
    git = (MLFLOW_GIT_COMMIT, MLFLOW_GIT_BRANCH, MLFLOW_GIT_REPO_URL)
    tags = {key: value for key, value in resolve_tags().items() if key not in git}
    if spec_path is None:
        return tags
    tags[MLFLOW_SOURCE_NAME] = spec_path
    folder = str(Path(spec_path).parent)
    found = zip(git, (git_utils.get_git_commit(folder), git_utils.get_git_branch(folder),
                      git_utils.get_git_repo_url(folder)), strict=True)  # fmt: skip
    return {**tags, **{key: value for key, value in found if value}}


def lost_insert_race(error: BaseException) -> bool:
    """Whether `error` is a unique-key conflict (SQLite's or PostgreSQL's wording): a concurrent
    writer inserted the same row first, so a retry that looks the row up again succeeds."""
    text = str(error).lower()
    return "unique constraint failed" in text or "violates unique constraint" in text


def resolve_uri(uri: str) -> str:
    """Makes a relative `sqlite:///file.db` absolute: Ray workers run in other directories."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def local_artifact_root(uri: str) -> str | None:
    """The embedded store keeps artifacts in `mlartifacts/` beside its SQLite file."""
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        return (Path(uri[len(prefix) :]).parent / "mlartifacts").resolve().as_uri()
    return None


@dataclass(frozen=True)
class RunRow:
    """One run as `gru-search trials` shows it."""

    run_id: str
    name: str
    status: str
    params: dict
    metrics: dict
    tags: dict
    start_time: int | None


class Tracker:
    """MLflow, reduced to the calls a search makes. `client` is injectable for tests."""

    def __init__(self, uri: str, client=None, patience_s: float = PATIENCE_S):
        self.uri = resolve_uri(uri)
        if client is None:
            # MLflow's own HTTP retries back off for about two minutes per call; with a few quick
            # ones a call fails within seconds and this class retries or buffers it instead.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
            # A server with basic auth: MLflow's client reads the variables, not their files.
            credentials.load_from_files()
            from mlflow import MlflowClient

            client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self.client = client
        self.patience_s = patience_s
        # run id -> metrics the store did not take yet, oldest first (sent before anything newer).
        self._unsent: dict[str, list] = {}

    # -- experiments and runs --------------------------------------------------------------------

    def ensure_experiment(self, name: str, artifact_location: str | None = None) -> str:
        try:
            return self._get_or_create_experiment(
                name, artifact_location or local_artifact_root(self.uri)
            )
        except Exception as error:  # MLflow raises many types for an unreachable store
            if credentials.refused(error):
                raise TrackingError(credentials.refusal_message(self.uri)) from error
            raise (TrackingUnreachable if transient(error) else TrackingError)(
                f"Cannot use the MLflow tracking store at {self.uri!r} ({type(error).__name__}: {error}); "
                "check tracking.uri in the spec and that the server is running."
            ) from error

    def _get_or_create_experiment(self, name: str, artifact_location: str | None) -> str:
        from mlflow.exceptions import MlflowException

        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            # Another search of the same spec created it between the two calls (both started at once).
            return self.client.get_experiment_by_name(name).experiment_id

    def experiment_id(self, name: str) -> str | None:
        experiment = self.client.get_experiment_by_name(name)
        return None if experiment is None else experiment.experiment_id

    def start_search(
        self,
        experiment_id: str,
        name: str,
        params: dict,
        spec_text: str,
        *,
        description: str = "",
        spec_path: str | None = None,
    ) -> str:
        """The search's parent run, with the tags MLflow's fluent `start_run` would give it (user,
        source) plus the spec file as its source and its folder's git commit, and `description`
        as the run's description (markdown)."""
        tags = {**context_tags(spec_path), RUN_NAME_TAG: name, SEARCH_TAG: "true"}
        if description:
            tags[DESCRIPTION_TAG] = description
        run = self.client.create_run(experiment_id, tags=tags)
        run_id = run.info.run_id
        self.log_params(run_id, params)
        self.client.log_text(run_id, spec_text, "spec.json")
        return run_id

    def start_trial(self, experiment_id: str, parent_run_id: str, number: str, values: dict) -> str:
        """Opens the trial's next attempt; earlier attempts still RUNNING died with their worker."""
        query = f"tags.`{TRIAL_TAG}` = '{number}'"
        earlier = self._retry(lambda: self._children(experiment_id, parent_run_id, query))
        attempt = 1 + len(earlier)
        for run in earlier:
            if run.info.status == "RUNNING":
                self.end_run(
                    run.info.run_id,
                    "KILLED",
                    reason=f"its worker stopped; attempt {attempt} replaces it",
                )
        tags = {
            PARENT_TAG: parent_run_id,
            RUN_NAME_TAG: f"trial-{number}" + (f"-attempt-{attempt}" if attempt > 1 else ""),
            TRIAL_TAG: number,
            ATTEMPT_TAG: str(attempt),
        }
        run_id = self._retry(lambda: self.client.create_run(experiment_id, tags=tags)).info.run_id
        self.log_params(run_id, values)
        return run_id

    def start_refit(
        self, experiment_id: str, parent_run_id: str, number: str, values: dict, epochs: int
    ) -> str:
        """Opens the nested run of trial `number`'s refit on training + validation data."""
        tags = {PARENT_TAG: parent_run_id, RUN_NAME_TAG: f"refit-{number}", REFIT_TAG: number}
        run_id = self._retry(lambda: self.client.create_run(experiment_id, tags=tags)).info.run_id
        self.log_params(run_id, {**values, "epochs": epochs})
        return run_id

    def log_params(self, run_id: str, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:_MAX_PARAM_LENGTH]) for k, v in params.items()]
        if items:
            self._retry(lambda: self.client.log_batch(run_id, params=items))

    def set_tags(self, run_id: str, tags: dict) -> None:
        from mlflow.entities import RunTag

        self._retry(
            lambda: self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
        )

    def log_metrics(self, run_id: str, metrics: dict, step: int = 0) -> None:
        """Sends now when the store answers; otherwise keeps them and sends them with the next call.

        Training does not wait for a restarting server: `flush` (called by `end_run`) waits.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._unsent.setdefault(run_id, []).extend(
            Metric(k, float(v), now, step) for k, v in metrics.items()
        )
        try:
            self._send(run_id)
        except Exception as error:
            if not transient(error):
                raise

    def flush(self, run_id: str) -> None:
        """Sends the run's buffered metrics, retrying while the store is away (up to `patience_s`)."""
        self._retry(lambda: self._send(run_id))

    def _send(self, run_id: str) -> None:
        unsent = self._unsent.get(run_id, [])
        # log_batch takes at most 1000 metrics per call.
        while unsent:
            self.client.log_batch(run_id, metrics=unsent[:1000])
            del unsent[:1000]
        self._unsent.pop(run_id, None)

    def end_run(self, run_id: str, status: str, reason: str | None = None) -> None:
        self.flush(run_id)
        if reason:
            self.set_tags(run_id, {REASON_TAG: reason})
        self._retry(lambda: self.client.set_terminated(run_id, status=status))

    def reopen(self, run_id: str) -> None:
        """Marks an ended (killed, failed) run as running again: a resumed search's parent."""
        self._retry(lambda: self.client.update_run(run_id, status="RUNNING"))

    def end_run_if_running(self, run_id: str, status: str) -> None:
        """Ends the run unless the driver ended it already; its metrics are sent either way."""
        self.flush(run_id)
        if self._retry(lambda: self.client.get_run(run_id)).info.status == "RUNNING":
            self._retry(lambda: self.client.set_terminated(run_id, status=status))

    def stop_trial_early(
        self, experiment_id: str, parent_run_id: str, number: str, reason: str
    ) -> None:
        """Closes trial `number`'s open run as KILLED by the scheduler (the trial's worker is told
        to stop only after this, and leaves a closed run as it is)."""
        query = f"tags.`{TRIAL_TAG}` = '{number}' and attributes.status = 'RUNNING'"
        for run in self._retry(lambda: self._children(experiment_id, parent_run_id, query)):
            self.set_tags(run.info.run_id, {STOPPED_BY_TAG: "scheduler"})
            self.end_run(run.info.run_id, "KILLED", reason=reason)

    def close_running_children(
        self, experiment_id: str, parent_run_id: str, reason: str, status: str = "KILLED"
    ) -> None:
        """Trials killed before they could close their run (a worker crash) get closed here."""
        for run in self._children(experiment_id, parent_run_id, "attributes.status = 'RUNNING'"):
            self.end_run(run.info.run_id, status, reason=reason)

    # Artifact uploads overwrite the same paths, so retrying one is safe.
    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._retry(lambda: self.client.log_text(run_id, text, artifact_file))

    def log_dict(self, run_id: str, data: dict, artifact_file: str) -> None:
        self.log_text(run_id, json.dumps(data, indent=2, default=str), artifact_file)

    def log_figure(self, run_id: str, figure, artifact_file: str) -> None:
        self._retry(lambda: self.client.log_figure(run_id, figure, artifact_file))

    def log_dataset(
        self, run_id: str, name: str, digest: str, source: dict, profile: dict, context: str
    ) -> None:
        """The run's input data set, as `mlflow.log_input` records one (the run page's Datasets).

        Logged by content digest (the data fingerprint), so two searches of the same data show
        the same data set. The entity is built here, not from `mlflow.data`, whose constructors
        want the arrays themselves."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(name=name, digest=digest, source_type="gru-search", source=json.dumps(source),
                          profile=json.dumps(profile))  # fmt: skip
        entry = DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)])
        # Two searches of the same data, started together, both find no row for it and both
        # insert; the loser's insert breaks the unique key and rolls back. Its retry finds the
        # winner's row and links to it.
        self._retry(lambda: self.client.log_inputs(run_id, datasets=[entry]), also=lost_insert_race)

    def log_model(self, run_id: str, local_dir: str, name: str = "model") -> str:
        """Logs the MLflow model folder `local_dir` as an MLflow 3 LoggedModel of `run_id` (what
        `mlflow.pyfunc.log_model` makes: the experiment's Models tab lists it, the run page links
        it); returns its `models:/<model_id>` URI, the source to register."""
        from mlflow.entities import LoggedModelOutput

        experiment_id = self._retry(lambda: self.client.get_run(run_id)).info.experiment_id
        model = self._retry(
            lambda: self.client.create_logged_model(
                experiment_id, name=name, source_run_id=run_id, model_type="keras"
            )
        )
        self._retry(lambda: self.client.log_model_artifacts(model.model_id, local_dir))
        self._retry(lambda: self.client.finalize_logged_model(model.model_id, "READY"))
        self._retry(lambda: self.client.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)]))
        return model.model_uri

    # -- reading back ----------------------------------------------------------------------------

    def searches(self, experiment_id: str) -> list[RunRow]:
        runs = self.client.search_runs(
            [experiment_id], f"tags.{SEARCH_TAG} = 'true'", order_by=["attributes.start_time DESC"]
        )
        return [_row(run) for run in runs]

    def trials(self, experiment_id: str, parent_run_id: str) -> list[RunRow]:
        runs = self._children(experiment_id, parent_run_id)
        return sorted((_row(r) for r in runs), key=trial_order)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self.client.get_metric_history(run_id, key)]

    def run(self, run_id: str) -> RunRow:
        return _row(self.client.get_run(run_id))

    def _children(self, experiment_id: str, parent_run_id: str, extra: str = ""):
        query = f"tags.`{PARENT_TAG}` = '{parent_run_id}'" + (f" and {extra}" if extra else "")
        return self.client.search_runs([experiment_id], query, max_results=10_000)

    # -- registry --------------------------------------------------------------------------------

    def register(self, name: str, source: str, run_id: str, tags: dict) -> str:
        """Registers `source` as a new version of `name` (created if missing); returns the version."""
        from mlflow.exceptions import MlflowException

        try:
            self._retry(lambda: self.client.get_registered_model(name))
        except MlflowException:
            # Two searches finishing together may both get here: the loser's create fails.
            with contextlib.suppress(MlflowException):
                self.client.create_registered_model(name)
        model_id = None
        if source.startswith("models:/m-"):  # a LoggedModel (log_model): the version links to it
            model_id = source.removeprefix("models:/")
            # Its files' location, not the URI: the SQL registry store resolves `models:/` URIs
            # through the process's global tracking URI, not this client's (MLflow 3.17).
            source = self._retry(lambda: self.client.get_logged_model(model_id)).artifact_location
        version = self._retry(
            lambda: self.client.create_model_version(
                name, source, run_id=run_id, tags={k: str(v) for k, v in tags.items()},
                model_id=model_id,
            )
        )  # fmt: skip
        return str(version.version)

    def describe_version(self, name: str, version: str, description: str) -> None:
        """The version's description, which the MLflow UI shows on its page."""
        self._retry(
            lambda: self.client.update_model_version(name, version, description=description)
        )

    def version_by_alias(self, name: str, alias: str):
        """The model version holding `alias`, or None (no such model or alias)."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None

    def version(self, name: str, version: str):
        """The model version, or None (no such model or version)."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(name, version)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return None

    def experiment_names(self) -> list[str]:
        return [e.name for e in self.client.search_experiments(max_results=1000)]

    def registered_model_names(self) -> list[str]:
        return [m.name for m in self.client.search_registered_models(max_results=1000)]

    def registered_model(self, name: str) -> tuple[list[str], dict[str, str]] | None:
        """(versions oldest first, alias -> version) of a registered model, or None."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return None
        versions = self.client.search_model_versions(f"name = '{name}'", max_results=10_000)
        numbers = sorted((str(v.version) for v in versions), key=int)
        return numbers, {alias: str(v) for alias, v in dict(model.aliases or {}).items()}

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._retry(lambda: self.client.set_registered_model_alias(name, alias, version))

    @contextlib.contextmanager
    def exclusive(self, key: str, *, wait_s: float = 300.0, stale_s: float = LOCK_STALE_S):
        """Mutual exclusion between processes sharing this store, for a read-decide-write step.

        The store has no compare-and-set, but creating a registered model is atomic (its name is
        the table's key): the process that creates `key` holds the lock and deletes it after. A
        lock older than `stale_s` belonged to a process that died and is broken.
        """
        from mlflow.exceptions import MlflowException

        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._retry(
                    lambda: self.client.create_registered_model(
                        key, description="gru-search lock; safe to delete"
                    )
                )
                break
            except MlflowException as error:
                # RESOURCE_DOES_NOT_EXIST from a create: MLflow's store found the name taken, then
                # looked the holder up to word its error, and the holder had released it meanwhile.
                if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                    continue
                if "already exists" not in str(
                    error
                ).lower() and "RESOURCE_ALREADY_EXISTS" not in str(error):
                    raise
            try:
                held = self._retry(lambda: self.client.get_registered_model(key))
            except MlflowException:
                continue  # released in between: try to take it again
            if time.time() * 1000 - held.creation_timestamp > stale_s * 1000:
                self._release(key)
                continue
            if time.monotonic() > deadline:
                raise TrackingError(
                    f"The lock {key!r} in {self.uri!r} has been held for more than {wait_s:.0f} s; "
                    "delete that registered model if no search is finishing."
                )
            time.sleep(0.2)
        try:
            yield
        finally:
            self._release(key)

    def _release(self, key: str) -> None:
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException):
            self._retry(lambda: self.client.delete_registered_model(key))

    def download_version(self, name: str, version: str, dst: str | None = None) -> Path:
        """Downloads a registered version's files; returns the local folder."""
        import mlflow.artifacts

        dst = dst or tempfile.mkdtemp(prefix="gru-search-pull-")
        # The version's own location: `models:/` URIs would resolve against the default registry.
        source = self.client.get_model_version_download_uri(name, version)
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=dst, tracking_uri=self.uri
        )
        return Path(path)

    # -- plumbing --------------------------------------------------------------------------------

    def _retry(self, call, also=lambda error: False):
        """Retries `call` while the store is briefly away: SQLite locked by a concurrent trial's
        write, or a tracking server restarting, and on errors `also` accepts. Other errors, and
        the last one, are raised."""
        deadline = time.monotonic() + self.patience_s
        delay = 0.2
        while True:
            try:
                return call()
            except Exception as error:
                if credentials.refused(error):
                    # Retrying would not change the answer; say which variables to set.
                    raise TrackingError(credentials.refusal_message(self.uri)) from error
                retriable = transient(error) or also(error)
                if not retriable or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)


def trial_order(row: RunRow) -> tuple:
    """Trials by number (2 before 10), each trial's attempts in order, then anything else."""
    number = row.tags.get(TRIAL_TAG, "")
    attempt = row.tags.get(ATTEMPT_TAG, "1")
    if number.isdigit():
        return (0, int(number), int(attempt) if attempt.isdigit() else 0, "")
    return (1, 0, 0, number or row.name)


def _row(run) -> RunRow:
    return RunRow(
        run_id=run.info.run_id,
        name=run.data.tags.get(RUN_NAME_TAG, run.info.run_id),
        status=run.info.status,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        start_time=run.info.start_time,
    )


def environ_for_workers() -> dict[str, str]:
    """MLflow settings Ray workers must share with the driver."""
    return {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
