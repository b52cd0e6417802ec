"""Search orchestration: spec, data, trials on Ray, tracking in MLflow, the CLI."""

from search.errors import ClusterError, DataError, GruSearchError, SpecError, TrackingError

__all__ = ["ClusterError", "DataError", "GruSearchError", "SpecError", "TrackingError"]
