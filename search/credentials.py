"""The MLflow tracking server's credentials, from the environment or from secret files.

MLflow's client sends HTTP basic authentication when MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD are set, but it reads no files. A container gets its secrets as files
(compose `secrets:` mounts them under /run/secrets), and a password in an environment variable
shows in `docker inspect`, so we also accept MLFLOW_TRACKING_USERNAME_FILE and
MLFLOW_TRACKING_PASSWORD_FILE (the `_FILE` convention of the postgres image) and export what
the files hold for MLflow's client in this process. A variable set directly wins over its file.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

from search.errors import TrackingError

USERNAME = "MLFLOW_TRACKING_USERNAME"
PASSWORD = "MLFLOW_TRACKING_PASSWORD"
FILE_SUFFIX = "_FILE"
_REFUSED = re.compile(r"\b(401|403)\b|Unauthorized|Forbidden")


def load_from_files(environ: MutableMapping[str, str] | None = None) -> None:
    """Sets USERNAME and PASSWORD from the files their `_FILE` variables name, where unset.

    Raises TrackingError naming the variable when a named file cannot be read or is empty.
    """
    environ = os.environ if environ is None else environ
    for name in (USERNAME, PASSWORD):
        path = environ.get(name + FILE_SUFFIX)
        if environ.get(name) or not path:
            continue
        try:
            value = Path(path).read_text().strip()
        except OSError as error:
            raise TrackingError(
                f"{name}{FILE_SUFFIX} names {path!r}, which cannot be read ({error.strerror}); "
                f"point it at the secret file or set {name} instead."
            ) from None
        if not value:
            raise TrackingError(
                f"{name}{FILE_SUFFIX} names {path!r}, which is empty; write the secret into "
                f"it (`make secrets` writes fresh ones) or set {name} instead."
            )
        environ[name] = value


def refused(error: BaseException) -> bool:
    """Whether `error` is the tracking server refusing this client's credentials (401 or 403)."""
    code = getattr(error, "error_code", "")
    # MLflow's client puts the HTTP status in the message of the error it raises; a run id
    # (hex) never holds the number as a word of its own.
    return code in ("UNAUTHENTICATED", "PERMISSION_DENIED") or bool(_REFUSED.search(str(error)))


def refusal_message(uri: str, environ: MutableMapping[str, str] | None = None) -> str:
    """One sentence for a 401/403: whether credentials were sent, and which variables to set."""
    environ = os.environ if environ is None else environ
    sent = bool(environ.get(USERNAME) and environ.get(PASSWORD))
    problem = "refused the credentials this process sent" if sent else "needs credentials"
    return (
        f"The MLflow tracking server at {uri} {problem} (HTTP 401/403); set {USERNAME} and "
        f"{PASSWORD} (or {USERNAME}{FILE_SUFFIX} and {PASSWORD}{FILE_SUFFIX}) to an account "
        "on that server (the stack's are in secrets/)."
    )
