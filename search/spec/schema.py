"""A JSON Schema (draft 2020-12) of the spec, for editors to complete and check specs with.

Built from what the parser reads: the sections' known keys (`*_KEYS`), the space parameters'
domains (search.spec.domains), the choices (search.spec.model) and the defaults of the frozen
settings (search.spec.model, whose defaults are the spec's). What the parser checks in code
(a field's type and bounds) is stated here once per key, and a key a section gains without an
entry here stops `spec_schema()` with an error naming it, so the two cannot drift apart quietly.
The schema checks the form of a spec; `gru-search validate` also checks what depends on
several fields or on the machine (max_trials against concurrency, the data file).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cells.architecture import HEAD_KINDS
from search.spec.data_section import DATA_KEYS
from search.spec.domains import DOMAINS, Domain
from search.spec.loading import NAME, TOP_KEYS
from search.spec.model import (
    ALGORITHMS,
    ENSEMBLE_SELECTIONS,
    MISSING_POLICIES,
    OBJECTIVE_METRICS,
    SCHEDULERS,
    DataSpec,
    RaySettings,
    Resources,
    SearchSettings,
)
from search.spec.settings_section import (
    DEFAULT_TRACKING_URI,
    MAX_COUNT,
    MAX_ENSEMBLE,
    MAX_FOLDS,
    MAX_SEED,
    RAY_ADDRESS,
    RAY_KEYS,
    SEARCH_KEYS,
    TRACKING_KEYS,
    URI_SCHEMES,
)
from search.spec.space_section import ENTRY_KEYS

Schema = dict[str, Any]


def spec_schema() -> Schema:
    """The whole spec's schema; cell names are the variants registered now."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "gru-search spec",
        "description": "One architecture search: data, search space, budget, tracking. "
        "Check a spec with `gru-search validate SPEC`.",
        **_section(
            TOP_KEYS,
            {
                "name": _text(
                    "Names the MLflow experiment, the registered model and the results folder.",
                    pattern=NAME.pattern,
                ),
                "data": _data(),
                "space": _space(),
                "search": _search(),
                "tracking": _tracking(),
                "ray": _ray(),
                "results_dir": _text("Default results/<name>, from the spec's folder."),
            },
            required=("name", "data"),
        ),
    }


# -- building blocks ----------------------------------------------------------------------------


def _section(keys: tuple[str, ...], fields: dict[str, Schema], required=()) -> Schema:
    """An object with exactly `keys`; a field left out (or null) takes its default."""
    missing, extra = set(keys) - set(fields), set(fields) - set(keys)
    if missing or extra:
        raise RuntimeError(
            f"search.spec.schema is out of step with the parser: keys without a schema "
            f"{sorted(missing)}, schemas without a key {sorted(extra)}; update search/spec/schema.py."
        )
    return {
        "type": "object",
        "additionalProperties": False,
        **({"required": list(required)} if required else {}),
        "properties": {
            key: fields[key] if key in required else _nullable(fields[key]) for key in keys
        },
    }


def _nullable(schema: Schema) -> Schema:
    """`schema` or null: the parser reads `key: null` as the key left out. A type list, where
    there is one, keeps a validator's (and an editor's) errors at the field inside."""
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    notes = {k: schema[k] for k in ("description", "default") if k in schema}
    rest = {k: v for k, v in schema.items() if k not in notes}
    return {"anyOf": [rest, {"type": "null"}], **notes}


def _text(description: str, **more) -> Schema:
    return {"type": "string", "minLength": 1, "description": description, **more}


def _choice(values, description: str, **more) -> Schema:
    return {"enum": list(values), "description": description, **more}


def _integer(description: str, minimum: int, maximum: int | None = None, **more) -> Schema:
    bounds = {"minimum": minimum} | ({} if maximum is None else {"maximum": maximum})
    return {"type": "integer", **bounds, "description": description, **more}


def _names(description: str) -> Schema:
    many = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
    return {
        "anyOf": [{"type": "string", "minLength": 1}, {**many, "uniqueItems": True}],
        "description": description,
    }


def _default(settings, name: str) -> dict:
    """`{"default": ...}` from a settings dataclass, where it has a plain one."""
    for f in dataclasses.fields(settings):
        if f.name == name and f.default is not dataclasses.MISSING and f.default is not None:
            return {"default": f.default}
    return {}


# -- sections -----------------------------------------------------------------------------------


def _data() -> Schema:
    d = lambda name: _default(DataSpec, name)  # noqa: E731
    column = "Long-format tables: the column that holds "
    forecasting = " (forecasting only)"
    return _section(
        DATA_KEYS,
        {
            "source": _text(
                "aeon:<Name> (bundled with aeon, offline), airline, adding or adding:T=<steps>, "
                "or a .csv/.parquet/.npz file (relative to the spec's folder)."
            ),
            "task": _choice(HEAD_KINDS, "Inferred for the built-in sources; required for a file."),
            "validation": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
                "description": "Fraction of the training cases held out for validation.",
                **d("validation"),
            },
            "test_size": {
                "anyOf": [
                    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    {"type": "integer", "minimum": 1},
                ],
                "description": "null: the source's own test split, else 20 %; a fraction or a count.",
            },
            "id_column": _text(column + "each sequence's id.", **d("id_column")),
            "time_column": _text(column + "the time order.", **d("time_column")),
            "label_column": _text(column + "the label.", **d("label_column")),
            "split_column": _text(column + "train/test.", **d("split_column")),
            "features": _names("Feature columns; null: every column not named above."),
            "target": _names("The column(s) to forecast" + forecasting + "."),
            "window": _integer("Input steps per window" + forecasting + ".", 1),
            "horizon": _integer("Steps forecast; null: the source's own, else 1.", 1),
            "stride": _integer("Steps between windows" + forecasting + ".", 1, **d("stride")),
            "missing": _choice(MISSING_POLICIES, "NaN/inf in the data.", **d("missing")),
            "allow_pickle": {
                "type": "boolean",
                "description": "NPZ object arrays are pickles: only for files you trust.",
                **d("allow_pickle"),
            },
        },
        required=("source",),
    )


def _space() -> Schema:
    return {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "description": "Parameters to search; leave it out for the default space "
        "(`gru-search validate` prints it).",
        "properties": {name: _parameter(domain) for name, domain in DOMAINS.items()},
    }


def _value(domain: Domain) -> Schema:
    """One value of a parameter."""
    if domain.kind == "str":
        return {"enum": list(domain.choices or ())}
    if domain.kind == "bool":
        return {"type": "boolean"}
    if domain.powers_of_two:
        return {"enum": [2**k for k in range(int(domain.high).bit_length()) if 2**k >= domain.low]}
    schema: Schema = {"type": "integer" if domain.kind == "int" else "number"}
    if domain.low is not None:
        schema["exclusiveMinimum" if domain.low_open else "minimum"] = domain.low
    if domain.high is not None:
        schema["exclusiveMaximum" if domain.high_open else "maximum"] = domain.high
    return schema


def _parameter(domain: Domain) -> Schema:
    """A space entry: a fixed value, a list to choose from, or a mapping form."""
    value = _value(domain)
    values = {"type": "array", "items": value, "minItems": 1, "uniqueItems": True}
    forms: dict[str, Schema] = {"values": values, "value": value, "when": _when()}
    numeric = domain.kind in ("int", "float") and domain.ranges
    if numeric:
        forms["min"] = forms["max"] = value
        if domain.kind == "int":
            forms["step"] = {"type": "integer", "minimum": 1}
            forms["log"] = {"const": False}
        else:
            forms["step"] = {"type": "number", "exclusiveMinimum": 0}
            forms["log"] = {"type": "boolean"}
    if not set(forms) <= set(ENTRY_KEYS):
        raise RuntimeError(
            f"search.spec.schema names space entry keys the parser does not read: {sorted(set(forms) - set(ENTRY_KEYS))}."
        )
    one_form = [{"required": ["values"]}, {"required": ["value"]}]
    if numeric:
        one_form.append({"required": ["min", "max"]})
    mapping = {
        "type": "object",
        "additionalProperties": False,
        "properties": forms,
        "oneOf": one_form,
    }
    return {"anyOf": [value, values, mapping], "description": domain.expected}


def _when() -> Schema:
    scalar = {"type": ["string", "number", "boolean"]}
    return {
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"enum": list(DOMAINS)},
        "additionalProperties": {
            "anyOf": [scalar, {"type": "array", "items": scalar, "minItems": 1}]
        },
        "description": "Active only when every listed parameter takes one of the values.",
    }


def _search() -> Schema:
    # The properties keep the order `gru-search schema` has always printed them in.
    return _section(
        SEARCH_KEYS,
        {
            **_search_trials(),
            "resources_per_trial": _resources_per_trial(),
            "objective": _objective(),
            **_search_failures(),
            **_search_model(),
        },
    )


def _search_default(name: str) -> dict:
    return _default(SearchSettings, name)


def _search_trials() -> dict[str, Schema]:
    """How the trials are proposed, scheduled and sized."""
    d = _search_default
    count = lambda text, name: _integer(text, 1, MAX_COUNT, **d(name))  # noqa: E731
    return {
        "algorithm": _choice(ALGORITHMS, "keras-tuner's search algorithm.", **d("algorithm")),
        "scheduler": _choice(SCHEDULERS, "Ray Tune's trial scheduler.", **d("scheduler")),
        "max_trials": count("Trials at most (the time budget usually ends first).", "max_trials"),
        "max_epochs": count("Epochs per trial at most.", "max_epochs"),
        "patience": _integer("Epochs without improvement before a trial stops; null: off.", 1),
        "grace_period": _integer("Epochs before asha/hyperband may stop a trial.", 1),
        "concurrency": _integer("Trials at once; default min(2, max_trials).", 1),
    }


def _resources_per_trial() -> Schema:
    cpu = {"type": "number", "exclusiveMinimum": 0, **_default(Resources, "cpu")}
    gpu = {
        "type": "number",
        "minimum": 0,
        **_default(Resources, "gpu"),
        "description": "Fractions share one GPU.",
    }
    return {
        **_section(("cpu", "gpu"), {"cpu": cpu, "gpu": gpu}),
        "description": "What one trial reserves on a Ray node.",
    }


def _objective() -> Schema:
    metrics = sorted({m for names in OBJECTIVE_METRICS.values() for m in names})
    return {
        "anyOf": [
            {"enum": metrics},
            _section(
                ("metric", "mode"),
                {"metric": {"enum": metrics}, "mode": {"enum": ["min", "max"]}},
            ),
        ],
        "description": "Default val_accuracy (classification) or val_loss; "
        "mode follows the metric.",
    }


def _search_failures() -> dict[str, Schema]:
    """The seed, and what the search does when trials fail."""
    d = _search_default
    return {
        "seed": _integer(
            "Seeds the algorithm, the split and the weights.", 0, MAX_SEED, **d("seed")
        ),
        "max_failures": _integer("Retries of a failed trial.", 0, **d("max_failures")),
        "max_consecutive_failures": _integer(
            "Failed trials in a row, before any completed, that stop the search.",
            1,
            **d("max_consecutive_failures"),
        ),
    }


def _search_model() -> dict[str, Schema]:
    """What becomes the registered model, and the budget, folds and first trials behind it."""
    d = _search_default
    first = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: _value(domain) for name, domain in DOMAINS.items()},
    }
    return {
        "ensemble": _integer(
            "The registered model averages at most N trials; at most max_trials.",
            1,
            MAX_ENSEMBLE,
            **d("ensemble"),
        ),
        "ensemble_selection": _choice(
            ENSEMBLE_SELECTIONS,
            "greedy: weighted selection on held-out predictions; top: the best N, equal "
            "weights; auto: greedy for regression, top otherwise.",
            **d("ensemble_selection"),
        ),
        "refit": {
            "type": "boolean",
            "description": "Train the registered trials again on training + validation.",
            **d("refit"),
        },
        "time_budget_minutes": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "The whole search, refit included; null: no budget.",
            **d("time_budget_minutes"),
        },
        "folds": {
            "anyOf": [
                {"const": "auto"},
                {"type": "integer", "minimum": 1, "maximum": MAX_FOLDS},
            ],
            "default": "auto",
            "description": "k-fold cross-validated trials (forecasting: k rolling origins); auto: 5 on small validation splits the budget affords, one holdout for forecasting.",
        },
        "first_trials": {
            "anyOf": [{"const": "auto"}, {"type": "array", "items": first}],
            "default": "auto",
            "description": "Trained before the algorithm proposes: auto, [] or your own.",
        },
    }


def _tracking() -> Schema:
    return _section(
        TRACKING_KEYS,
        {
            "uri": _text(
                "The MLflow store; a relative sqlite path is from the spec's folder.",
                pattern=URI_SCHEMES.pattern,
                default=DEFAULT_TRACKING_URI,
            ),
            "experiment": _text("Default: name."),
            "registered_model": _text("Default: name."),
            "artifact_location": _text("Default <spec folder>/mlartifacts for a local store."),
        },
    )


def _ray() -> Schema:
    return _section(
        RAY_KEYS,
        {
            "address": _text(
                "local | auto | ray://HOST:10001 | HOST:PORT",
                pattern=RAY_ADDRESS.pattern,
                **_default(RaySettings, "address"),
            ),
            "num_cpus": _integer("CPUs a local Ray may use; null: all.", 1),
        },
    )
