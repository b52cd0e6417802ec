"""The exception hierarchy: one root, and user errors that are also builtin ValueErrors."""


class GruSearchError(Exception):
    """Root of every error gru-search raises on purpose."""


class SpecError(GruSearchError, ValueError):
    """The search spec is invalid; the message lists every problem with its field path."""


class DataError(GruSearchError, ValueError):
    """The data cannot be used as described; the message names the fix."""


class TrackingError(GruSearchError, RuntimeError):
    """The MLflow tracking server or registry cannot be reached or used."""


class ClusterError(GruSearchError, RuntimeError):
    """The Ray cluster cannot be reached or the job cannot be submitted."""


class NotFoundError(GruSearchError, LookupError):
    """A store, experiment, search, model, version, alias or job that was named does not exist;
    the message says what does."""


class UnreachableError(GruSearchError, ConnectionError):
    """A server (the MLflow tracking server, the Ray cluster) does not answer."""


class TrackingUnreachable(UnreachableError, TrackingError):
    """The MLflow tracking store does not answer."""


class ClusterUnreachable(UnreachableError, ClusterError):
    """The Ray cluster's job API does not answer."""
