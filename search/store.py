"""Where the MLflow store is: one rule for `run`, `validate`, `ui`, `trials` and `pull`.

`--tracking-uri`, else the spec's `tracking.uri`, else `$MLFLOW_TRACKING_URI`, else
`sqlite:///mlflow.db`: beside the spec when there is one (as `run` always did), in the working
folder otherwise. Relative sqlite paths from the flag or the variable are from the working
folder, as MLflow reads them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from search import credentials
from search.errors import NotFoundError, SpecError, TrackingError, TrackingUnreachable
from search.spec.settings_section import URI_FORMS, URI_SCHEMES
from search.tracking import Tracker, resolve_uri, transient

ENV = "MLFLOW_TRACKING_URI"
DEFAULT_URI = "sqlite:///mlflow.db"


def checked_uri(uri: str, where: str) -> str:
    """`uri` made absolute (a relative sqlite path is from the working folder), or a SpecError."""
    if not URI_SCHEMES.match(uri):
        raise SpecError(f"{where} must be {URI_FORMS}, but got {uri!r}.")
    return resolve_uri(uri)


def search_tracking(
    tracking, *, override: str | None = None, environ: Mapping[str, str] | None = None
):
    """The spec's TrackingSettings with the store a search of it uses (see the module's rule).

    A store that replaces the spec's default gets its artifacts beside it (search.tracking's
    `local_artifact_root`) or where its server keeps them, unless the spec named a location.
    """
    environ = os.environ if environ is None else environ
    if override:
        uri = checked_uri(override, "--tracking-uri")
    elif "uri" not in tracking.given and environ.get(ENV):
        uri = checked_uri(environ[ENV], f"${ENV}")
    else:
        return tracking
    artifacts = tracking.artifact_location if "artifact_location" in tracking.given else None
    return dataclasses.replace(
        tracking, uri=uri, artifact_location=artifacts, given=tracking.given | {"uri"}
    )


def with_store(spec, *, override: str | None = None, environ: Mapping[str, str] | None = None):
    """`spec` with `search_tracking` applied: what `run` and `validate` use."""
    return dataclasses.replace(
        spec, tracking=search_tracking(spec.tracking, override=override, environ=environ)
    )


def read_uri(
    spec=None, override: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The store `ui`, `trials` and `pull` read: the same rule, with or without a spec."""
    environ = os.environ if environ is None else environ
    if spec is not None:
        return search_tracking(spec.tracking, override=override, environ=environ).uri
    if override:
        return checked_uri(override, "--tracking-uri")
    if environ.get(ENV):
        return checked_uri(environ[ENV], f"${ENV}")
    return resolve_uri(DEFAULT_URI)


def local_store_path(uri: str) -> Path | None:
    """The file (sqlite) or folder (file:) of a store on this machine; None for a server."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        return None if path in ("", ":memory:") else Path(path)
    if uri.startswith("file:"):
        return Path(uri[len("file:") :].removeprefix("//"))
    return None


def open_store(uri: str, *, tracker_factory: Callable[[str], Tracker] = Tracker) -> Tracker:
    """A Tracker on an existing store that answers; never creates an empty one.

    NotFoundError when a local store is missing, TrackingUnreachable when a server does not
    answer, TrackingError when the store answers with an error.
    """
    path = local_store_path(uri)
    if path is not None and not (path.is_file() if uri.startswith("sqlite:") else path.is_dir()):
        raise NotFoundError(
            f"There is no MLflow store at {path}; run a search first (`gru-search run SPEC`), "
            "or name the store with --spec SPEC or --tracking-uri URI."
        )
    tracker = tracker_factory(uri)
    try:
        tracker.client.search_experiments(max_results=1)
    except Exception as error:  # MLflow raises many types for a store it cannot use
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
        detail = f"{type(error).__name__}: {first}"[:300]
        if credentials.refused(error):
            raise TrackingError(credentials.refusal_message(uri)) from None
        if transient(error):
            raise TrackingUnreachable(
                f"The MLflow tracking store at {uri} does not answer ({detail}); start its server "
                "or fix --tracking-uri (or the spec's tracking.uri)."
            ) from None
        raise TrackingError(
            f"Cannot read the MLflow store at {uri} ({detail}); check --tracking-uri."
        ) from None
    return tracker
