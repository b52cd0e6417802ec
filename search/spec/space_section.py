"""The `space` section: YAML shorthand -> `space.Space`, with every problem at its field path.

Forms of one entry (`space.<parameter>`):
  [a, b, c]                       a choice ([false, true] for a boolean is a Boolean)
  3 / gru / true                  a fixed value
  {values: [...], when: {...}}    a choice with a condition
  {min: 1, max: 3, step: 1}       an integer range (integer parameters)
  {min: 1e-4, max: 1e-2, log: true, step: 0.1}   a float range (float parameters)
  {value: 3, when: {...}}         a fixed value with a condition
`when: {parent: [values]}` makes the entry active only when every listed parent is active and
takes one of the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cells.registry import default_cells
from search.spec.domains import DOMAINS, Domain
from search.spec.fields import is_int, is_number
from search.spec.problems import Problems, join, show, suggestion
from space import Boolean, Choice, Fixed, FloatRange, IntRange, Parameter, Space
from space.space import structure_problems

ENTRY_KEYS = ("values", "min", "max", "step", "log", "value", "when")

# The space searched when a spec has no `space` section (classification and regression), sized
# for its 10-minute budget on 2 cores: recurrent cells beside the fully-convolutional branch
# (GRU-FCN, Elsayed et al. 2018; LSTM-FCN, Karim et al. 2017), the hybrid the literature shows
# competing with convolutional classifiers; recurrent models alone lose on short univariate series.
# Left out, measured on GunPoint with 5 folds (2026-12-01): trials with the Bahdanau/Luong wrapper
# took 3.5-6 minutes for 30 epochs, one did not finish its first epoch (XLA compiles each fold's
# model) in 3.6; the conv cells convolve along the feature axis, which a univariate series does
# not have. Both stay one line away in a spec's own `space`. The cells are the variants declared
# with a `default_rank` (cells.registry): gru, mgu, minimal, layernorm.
DEFAULT_SPACE: dict[str, Any] = {
    "cell": default_cells(),
    "depth": {"min": 1, "max": 2},
    "units": [32, 64],
    "bidirectional": [False, True],
    "attention": ["none", "pooling"],
    "fcn": ["fcn", "se_fcn"],
    # 64 (blocks 64/128/64) trains about 4x faster than the paper's 128 on a CPU.
    "fcn_filters": [64, 128],
    # Each series in its own units (instance normalisation), or all in the training set's: on
    # validation splits (FCN-64 + GRU-64, 2 seeds, 2026-12-02), Covid3Month_disc (series means
    # 0.01 to 1674) 0.51 -> 0.60, PickupGestureWiimoteZ 0.43 -> 0.53, ArrowHead (already
    # z-normalised) 0.64 -> 0.68. Searched, not fixed: where the level itself tells the classes
    # apart, normalising it away loses that.
    "revin": [False, True],
    # MiniRocket's features beside the network, read out by a frozen ridge fit that training
    # starts from (cells.minirocket). Chosen on held-out training cases (75/25 cuts of aeon's
    # training splits, 2026-12-03): the first trial's start scored 0.74 on ACSF1 (MiniRocket
    # itself 0.75, GRU-FCN alone 0.65-0.72 after 100 epochs) and 0.80 on PickupGestureWiimoteZ
    # (GRU-FCN alone about 0.5); searched, not fixed, because it costs time on long series.
    "minirocket": [False, True],
    "dropout": {"min": 0.0, "max": 0.5},
    "learning_rate": {"min": 1.0e-4, "max": 1.0e-2, "log": True},
    "batch_size": [16, 32],
    # A constant rate, or one decayed on a cosine to 0 over max_epochs. On held-out training
    # cases (benchmarks/small_data_regularisers.py, 2026-12-02), the first trial's accuracy went
    # from 0.653 to 0.720 on ACSF1 (3 cuts, 100 epochs) and from 0.820 to 0.830 on OSULeaf
    # (2 cuts, 60 epochs); jitter lost on both, window slicing and label smoothing on ACSF1.
    "lr_schedule": ["constant", "cosine"],
}
# Forecasting adds the heads that extrapolate: LSTNet's linear autoregressive highway, and with
# `revin` the forecast de-normalised by its window's statistics (RevIN), so levels outside the
# training range are reachable.
# Every forecaster has the highway: it starts at the least-squares AR fit of the training windows
# (cells.autoregressive), the baseline a network from random weights often ends below. A trial
# cuts the lags to its window (24 on 12-step windows: 12).
FORECASTING_SPACE: dict[str, Any] = {
    **{k: v for k, v in DEFAULT_SPACE.items() if k not in ("fcn", "fcn_filters", "minirocket")},
    "fcn": ["none", "fcn"],
    "fcn_filters": {"values": [64], "when": {"fcn": ["fcn"]}},
    "ar_highway": [4, 12, 24],
}
# Parameters that only a forecasting head has, and those it does not have.
FORECASTING_ONLY = ("ar_highway",)
NOT_FORECASTING = ("minirocket",)


# The first trials of a search (search.spec.first_trials), before its algorithm proposes any:
# the published GRU-FCN recipe (one GRU layer beside the FCN branch, Adam at 1e-3, small
# batches; Elsayed et al. 2018, Karim et al. 2017), once in the training set's units and once
# instance-normalised, at 64 filters (4x faster than the paper's 128 on a CPU), with the rate
# decayed on a cosine (see lr_schedule above), beside MiniRocket's ridge readout (see minirocket
# above). Random draws start below 3e-4 one time in four, too slow to learn in the epochs a
# budget allows.
FIRST_TRIALS: tuple[dict[str, Any], ...] = tuple(
    {
        "cell": "gru", "depth": 1, "units": 64, "bidirectional": False, "attention": "none",
        "fcn": "fcn", "fcn_filters": 64, "revin": revin, "minirocket": True, "dropout": 0.2,
        "learning_rate": 1.0e-3, "batch_size": 16, "lr_schedule": "cosine",
    }
    for revin in (False, True)
)  # fmt: skip
# Forecasting: a small GRU over the least-squares AR start (every forecaster has the highway),
# with and without RevIN.
FORECASTING_FIRST_TRIALS: tuple[dict[str, Any], ...] = tuple(
    {
        "cell": "gru", "depth": 1, "units": 32, "bidirectional": False, "attention": "none",
        "fcn": "none", "ar_highway": 12, "revin": revin, "dropout": 0.0,
        "learning_rate": 1.0e-3, "batch_size": 16, "lr_schedule": "constant",
    }
    for revin in (True, False)
)  # fmt: skip


def default_first_trials(task: str | None) -> tuple[dict[str, Any], ...]:
    return FORECASTING_FIRST_TRIALS if task == "forecasting" else FIRST_TRIALS


def default_space(task: str | None) -> dict[str, Any]:
    """The default space for `task` (the classification one when the task is unknown). Its
    cells are read now: a variant registered with a `default_rank` since the import is one."""
    space = FORECASTING_SPACE if task == "forecasting" else DEFAULT_SPACE
    return {**space, "cell": default_cells()}


def parse_space(
    problems: Problems, value: Any, path: str = "space", task: str | None = None
) -> Space | None:
    if value is None:
        value = default_space(task)
    if not isinstance(value, Mapping) or not value:
        problems.expected(
            path, "a mapping of parameters (leave `space` out to search the default space)", value
        )
        return None
    parsed: list[Parameter] = []
    failed: set[str] = set()
    for name, entry in value.items():
        where = join(path, name)
        domain = DOMAINS.get(name) if isinstance(name, str) else None
        if domain is None:
            problems.add(
                where,
                f"unknown parameter{suggestion(name, DOMAINS)}; known: {', '.join(DOMAINS)}",
            )
            continue
        if name in FORECASTING_ONLY and task not in (None, "forecasting"):
            problems.add(where, f"applies only to forecasting, but data.task is {task}")
            failed.add(name)
            continue
        if name in NOT_FORECASTING and task == "forecasting":
            problems.add(where, "applies only to classification and regression, not forecasting")
            failed.add(name)
            continue
        before = len(problems.lines)
        try:
            parameter = _entry(problems, where, name, domain, entry)
        except ValueError as error:
            # The space's own checks are a safety net behind the ones here.
            problems.add(where, str(error).rstrip("."))
            parameter = None
        if parameter is None or len(problems.lines) > before:
            failed.add(name)
        else:
            parsed.append(parameter)
    _check_conditions(problems, path, parsed, failed, value)
    if problems:
        return None
    return Space(tuple(parsed))


def _entry(
    problems: Problems, where: str, name: str, domain: Domain, entry: Any
) -> Parameter | None:
    if isinstance(entry, list):
        return _choice(problems, where, name, domain, entry, {}, domain.expected)
    if isinstance(entry, Mapping):
        return _mapping_entry(problems, where, name, domain, entry)
    if domain.contains(entry):
        return Fixed(name, domain.read(entry))
    problems.expected(where, domain.expected, entry)
    return None


def _mapping_entry(
    problems: Problems, where: str, name: str, domain: Domain, entry: Mapping
) -> Parameter | None:
    problems.unknown_keys(where, entry, ENTRY_KEYS)
    when = _when(problems, join(where, "when"), name, entry.get("when"))
    forms = [f for f in ("values", "value") if f in entry]
    if "min" in entry or "max" in entry:
        forms.append("range")
    if len(forms) != 1:
        problems.expected(
            where, "exactly one of {values: [...]}, {value: ...} or {min, max}", dict(entry)
        )
        return None
    if forms == ["values"]:
        for extra in ("step", "log"):
            if extra in entry:
                problems.add(join(where, extra), "applies only to {min, max} ranges")
        values_where = join(where, "values")
        if not isinstance(entry["values"], list):
            problems.expected(values_where, f"a non-empty list of {domain.plural}", entry["values"])
            return None
        return _choice(problems, values_where, name, domain, entry["values"], when)
    if forms == ["value"]:
        if not domain.contains(entry["value"]):
            problems.expected(join(where, "value"), domain.singular, entry["value"])
            return None
        return Fixed(name, domain.read(entry["value"]), when=when)
    return _range(problems, where, name, domain, entry, when)


def _choice(
    problems: Problems,
    where: str,
    name: str,
    domain: Domain,
    values: list,
    when: dict,
    expected: str | None = None,
) -> Parameter | None:
    bad = [v for v in values if not domain.contains(v)]
    if not values or bad:
        problems.expected(where, expected or f"a non-empty list of {domain.plural}", values)
        if bad:
            hint = suggestion(bad[0], domain.choices or ())
            problems.lines[-1] += f"; not allowed: {show(bad)}{hint}"
        return None
    read = [domain.read(v) for v in values]
    if len(set(read)) != len(read):
        problems.expected(where, "a list without repeated values", values)
        return None
    if domain.kind == "bool" and len(read) == 2:
        return Boolean(name, when=when)
    if len(read) == 1:
        # A one-value choice is a fixed value; keras-tuner records both the same way.
        return Fixed(name, read[0], when=when)
    return Choice(name, tuple(read), when=when)


def _range(
    problems: Problems, where: str, name: str, domain: Domain, entry: Mapping, when: dict
) -> Parameter | None:
    if domain.kind not in ("int", "float") or not domain.ranges:
        problems.expected(where, domain.expected, dict(entry))
        return None
    ok = True
    for bound in ("min", "max"):
        if bound not in entry:
            problems.add(join(where, bound), "is required in a {min, max} range")
            ok = False
        elif not domain.contains(entry[bound]):
            problems.expected(join(where, bound), domain.singular, entry[bound])
            ok = False
    step, log = entry.get("step"), entry.get("log", False)
    if not isinstance(log, bool):
        problems.expected(join(where, "log"), "true or false", log)
        ok = False
    if domain.kind == "int":
        if log:
            problems.add(
                join(where, "log"), "applies only to float parameters; use a list of values"
            )
            ok = False
        if step is not None and (not is_int(step) or step < 1):
            problems.expected(join(where, "step"), "a positive integer", step)
            ok = False
    elif step is not None and (not is_number(step) or step <= 0):
        problems.expected(join(where, "step"), "a positive number", step)
        ok = False
    if not ok:
        return None
    low, high = domain.read(entry["min"]), domain.read(entry["max"])
    if low > high:
        problems.expected(where, "min <= max", dict(entry))
        return None
    if log and low <= 0:
        problems.expected(where, "min > 0 in a log range", dict(entry))
        return None
    if log and step is not None:
        problems.add(join(where, "step"), "cannot be combined with log: true")
        return None
    if domain.kind == "int":
        step = 1 if step is None else step
        if (high - low) % step:
            problems.expected(where, f"max - min to be a multiple of step {step}", dict(entry))
            return None
        return IntRange(name, low, high, step, when=when)
    return FloatRange(
        name, low, high, log=log, step=None if step is None else float(step), when=when
    )


def _when(problems: Problems, where: str, name: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not value:
        problems.expected(where, "a mapping {parameter: [values]}", value)
        return {}
    conditions = {}
    for parent, values in value.items():
        if not isinstance(parent, str):
            problems.expected(join(where, parent), "a parameter name", parent)
            continue
        if parent == name:
            problems.add(join(where, parent), "a parameter cannot depend on itself")
            continue
        if not isinstance(values, list):
            values = [values]
        if not values or not all(isinstance(v, str | int | float | bool) for v in values):
            problems.expected(join(where, parent), "a value or a non-empty list of values", values)
            continue
        conditions[parent] = tuple(values)
    return conditions


def _check_conditions(
    problems: Problems, path: str, parsed: list[Parameter], failed: set[str], raw: Mapping
) -> None:
    present = {p.name for p in parsed} | failed
    sound = []
    for p in parsed:
        fine = True
        for c in p.when:
            where = join(path, f"{p.name}.when.{c.parameter}")
            if c.parameter in failed:
                fine = False  # already reported at the parent's own path
            elif c.parameter not in present:
                known = c.parameter in DOMAINS
                problems.add(
                    where,
                    f"condition on `{c.parameter}`, which is not in the space; add it to the space"
                    if known
                    else f"condition on unknown parameter {show(c.parameter)}"
                    f"{suggestion(c.parameter, present)}; parameters: {', '.join(sorted(present))}",
                )
                fine = False
        if fine:
            sound.append(p)
    for where, message in structure_problems(sound):
        problems.add(join(path, where), message)
