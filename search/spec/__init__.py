"""The search spec: one YAML file that describes a whole search, validated before anything runs.

`load_spec(path)` / `parse_spec(mapping, base_dir)` return a frozen `Spec` or raise one
`SpecError` that lists every problem with its field path; `trial_config(values)` turns the values
a search algorithm proposes into an `Architecture` and `TrainingSettings`.
"""

from search.spec.loading import load_spec, parse_spec
from search.spec.model import (
    OBJECTIVE_METRICS,
    DataSpec,
    Objective,
    RaySettings,
    Resources,
    SearchSettings,
    Spec,
    TrackingSettings,
    TrainingSettings,
    TrialConfig,
)
from search.spec.space_section import DEFAULT_SPACE
from search.spec.summary import summary
from search.spec.trial import trial_config

__all__ = [
    "DEFAULT_SPACE",
    "OBJECTIVE_METRICS",
    "DataSpec",
    "Objective",
    "RaySettings",
    "Resources",
    "SearchSettings",
    "Spec",
    "TrackingSettings",
    "TrainingSettings",
    "TrialConfig",
    "load_spec",
    "parse_spec",
    "summary",
    "trial_config",
]
