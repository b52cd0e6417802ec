"""A trainer that breaks one trial's configuration on purpose, to test how failures are reported.

Ray workers receive it by value (see `register`), so they need not import the tests package.
"""

from __future__ import annotations

import sys

from search.trial import train_trial
from search.trial_result import TRIAL_NUMBER_KEY

# The trial whose configuration is broken.
FAILING_TRIAL = "1"


def train_with_one_failure(values, task, settings, report):
    if str(values.get(TRIAL_NUMBER_KEY)) == FAILING_TRIAL:
        values = {**values, "units": -1}  # no architecture has negative units
    return train_trial(values, task, settings, report)


def register() -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
