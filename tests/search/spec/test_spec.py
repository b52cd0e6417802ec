"""search.spec: defaults, every kind of problem at its field path, loading, and trial_config."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import search.spec
from cells.architecture import Architecture
from search.errors import GruSearchError, SpecError
from search.spec import (
    DEFAULT_SPACE,
    OBJECTIVE_METRICS,
    TrainingSettings,
    load_spec,
    parse_spec,
    trial_config,
)
from search.spec.domains import ARCHITECTURE_FIELD, DOMAINS, TRAINING_FIELDS

MINIMAL = {"name": "vowels", "data": {"source": "aeon:JapaneseVowels"}}


def problems_of(mapping, base_dir="/tmp") -> tuple[str, ...]:
    with pytest.raises(SpecError) as caught:
        parse_spec(mapping, base_dir)
    return caught.value.problems


def with_changes(**sections) -> dict:
    spec = {**MINIMAL, "data": dict(MINIMAL["data"])}
    spec.update(sections)
    return spec


def test_public_names_are_pinned():
    assert search.spec.__all__ == [
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


def test_the_known_parameters_are_the_architecture_fields_and_training_settings():
    names = {ARCHITECTURE_FIELD.get(n, n) for n in DOMAINS if n not in TRAINING_FIELDS}
    assert names == set(Architecture.field_names())
    assert set(TRAINING_FIELDS) == {f for f in TrainingSettings.__dataclass_fields__}


def test_importing_the_spec_layer_imports_no_framework():
    code = (
        "import sys, search.spec, search.commands.validate\n"
        "print([m for m in ('keras', 'keras_tuner', 'tensorflow', 'ray', 'mlflow', 'jax')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_name_and_data_alone_give_a_full_search_with_defaults(tmp_path):
    spec = parse_spec(MINIMAL, tmp_path)
    assert spec.data.task == "classification"  # inferred from the aeon source
    assert spec.data.validation == 0.2 and spec.data.missing == "error"
    assert spec.data.base_dir == str(tmp_path.resolve())
    assert set(spec.space.names) == set(DEFAULT_SPACE)
    assert set(spec.space["cell"].values) == {"gru", "mgu", "minimal", "layernorm"}
    assert spec.space["learning_rate"].log
    assert spec.search.algorithm == "random" and spec.search.scheduler == "asha"
    assert spec.search.objective.metric == "val_accuracy" and spec.search.objective.mode == "max"
    assert spec.search.concurrency == 2 and spec.search.seed == 0
    # The defaults a measured search favours: a whole-search budget, an ensemble of refit trials.
    assert (
        spec.search.refit is True
        and spec.search.time_budget_minutes == 10
        and spec.search.ensemble == 5
    )
    assert spec.space["fcn"].values == ("fcn", "se_fcn")
    assert spec.tracking.uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert spec.tracking.experiment == spec.tracking.registered_model == "vowels"
    assert spec.tracking.artifact_location == str(tmp_path.resolve() / "mlartifacts")
    assert spec.ray.address == "local"
    assert spec.results_dir == str(tmp_path.resolve() / "results" / "vowels")


def test_regression_and_forecasting_default_to_minimising_the_validation_loss(tmp_path):
    spec = parse_spec({"name": "a", "data": {"source": "airline", "window": 24}}, tmp_path)
    assert spec.data.task == "forecasting" and spec.data.horizon is None
    assert (spec.search.objective.metric, spec.search.objective.mode) == ("val_loss", "min")
    assert (
        parse_spec({"name": "b", "data": {"source": "adding:T=50"}}, tmp_path).data.task
        == "regression"
    )


def test_relative_paths_are_taken_from_the_spec_folder(tmp_path):
    spec = parse_spec(
        {
            "name": "mine",
            "data": {
                "source": "data/series.csv",
                "task": "forecasting",
                "window": 8,
                "target": "y",
            },
            "tracking": {"uri": "sqlite:///runs/store.db", "artifact_location": "art"},
            "results_dir": "out",
        },
        tmp_path,
    )
    root = tmp_path.resolve()
    assert spec.data.source == str(root / "data" / "series.csv")
    assert spec.data.target == ("y",)
    assert spec.tracking.uri == f"sqlite:///{root}/runs/store.db"
    assert spec.tracking.artifact_location == str(root / "art")
    assert spec.results_dir == str(root / "out")
    server = parse_spec(with_changes(tracking={"uri": "http://mlflow:5000"}), tmp_path)
    assert server.tracking.uri == "http://mlflow:5000" and server.tracking.artifact_location is None


def test_the_issue_example_message_is_exact():
    found = problems_of(with_changes(space={"units": [32, "big"]}))
    assert found[0] == (
        'space.units: expected a list of positive integers or {min, max}, got [32, "big"]'
        '; not allowed: ["big"]'
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"serach": {}}, "serach: unknown key (did you mean `search`?)"),
        (
            {"search": {"max_trails": 3}},
            "search.max_trails: unknown key (did you mean `max_trials`?)",
        ),
        ({"space": {"unit": [8]}}, "space.unit: unknown parameter (did you mean `units`?)"),
        ({"space": {"cell": []}}, "space.cell: expected one of gru, minimal"),
        (
            {"space": {"depth": {"min": 3, "max": 1}}},
            'space.depth: expected min <= max, got {"min": 3, "max": 1}',
        ),
        (
            {"space": {"learning_rate": {"min": 0, "max": 0.1, "log": True}}},
            "space.learning_rate.min: expected a number in (0, 1], got 0",
        ),
        (
            {"space": {"dropout": {"min": 0, "max": 0.5, "log": True}}},
            "space.dropout: expected min > 0 in a log range",
        ),
        (
            {"space": {"units": {"min": 16, "max": 100, "step": 16}}},
            "space.units: expected max - min to be a multiple of step 16",
        ),
        (
            {"space": {"depth": {"min": 1, "max": 3, "log": True}}},
            "space.depth.log: applies only to float parameters",
        ),
        ({"space": {"units": {"values": [8], "min": 1}}}, "space.units: expected exactly one of"),
        (
            {
                "space": {
                    "cell": ["gru"],
                    "conv_kernel": {"values": [3], "when": {"cel": ["convgru"]}},
                }
            },
            'space.conv_kernel.when.cel: condition on unknown parameter "cel" (did you mean `cell`?)',
        ),
        (
            {"space": {"conv_kernel": {"values": [3], "when": {"cell": ["convgru"]}}}},
            "space.conv_kernel.when.cell: condition on `cell`, which is not in the space",
        ),
        (
            {
                "space": {
                    "cell": ["gru", "mgu"],
                    "conv_kernel": {"values": [3], "when": {"cell": ["convgru"]}},
                }
            },
            "space.conv_kernel.when.cell: 'cell' can never take [\"convgru\"]; it takes gru | mgu",
        ),
        (
            {
                "space": {
                    "dropout": {"min": 0, "max": 0.5},
                    "units": {"values": [8], "when": {"dropout": [0.1]}},
                }
            },
            "space.units.when.dropout: cannot condition on the continuous parameter 'dropout'",
        ),
        (
            {
                "space": {
                    "residual": {"values": [True], "when": {"depth": [2]}},
                    "depth": {"value": 2, "when": {"residual": [True]}},
                }
            },
            "space.residual: conditions form a cycle",
        ),
        (
            {"space": {"units": {"values": [8], "when": {"units": [8]}}}},
            "space.units.when.units: a parameter cannot depend on itself",
        ),
        ({"space": {}}, "space: expected a mapping of parameters (leave `space` out"),
        (
            {"search": {"max_trials": 3, "concurrency": 4}},
            "search.concurrency: expected at most max_trials (3), got 4",
        ),
        (
            {"search": {"objective": {"metric": "val_mae"}}},
            "search.objective.metric: expected a metric a classification trial reports: val_accuracy",
        ),
        (
            {"search": {"objective": {"metric": "val_loss", "mode": "max"}}},
            'search.objective.mode: expected min (val_loss is better lower), got "max"',
        ),
        (
            {"search": {"max_trials": 3, "ensemble": 10}},
            "search.ensemble: expected at most max_trials (3), got 10",
        ),
        (
            {"search": {"algorithm": "bayes"}},
            "search.algorithm: expected one of random, grid, bayesian (did you mean `bayesian`?)",
        ),
        ({"search": {"max_epochs": 0}}, "search.max_epochs: expected a positive integer, got 0"),
        (
            {"search": {"max_epochs": 5, "grace_period": 6}},
            "search.grace_period: expected at most max_epochs (5), got 6",
        ),
        (
            {"search": {"resources_per_trial": {"cpu": 0}}},
            "search.resources_per_trial.cpu: expected a positive number of CPUs, got 0",
        ),
        ({"search": {"seed": -1}}, "search.seed: expected an integer >= 0, got -1"),
        ({"search": {"refit": "yes"}}, 'search.refit: expected true or false, got "yes"'),
        (
            {"search": {"time_budget_minutes": 0}},
            "search.time_budget_minutes: expected a positive number of minutes, or null for no budget, got 0",
        ),
        ({"tracking": {"uri": "mlflow.db"}}, "tracking.uri: expected sqlite:///PATH"),
        (
            {"ray": {"address": "http://head:8265"}},
            "ray.address: expected local, auto, ray://HOST:PORT or HOST:PORT",
        ),
        (
            {"ray": {"address": "auto", "num_cpus": 2}},
            "ray.num_cpus: applies only to address local",
        ),
        ({"name": "my search"}, "name: expected letters, digits"),
        ({"name": None}, "name: is required"),
        ({"data": None}, "data: is required"),
        (
            {"data": {"source": "aeon:JapaneseVowels", "task": "forecasting"}},
            "data.task: aeon:JapaneseVowels is a classification dataset",
        ),
        (
            {"data": {"source": "data.txt", "task": "classification"}},
            "data.source: expected a built-in name",
        ),
        ({"data": {"source": "data.csv"}}, "data.task: is required for a file source"),
        (
            {"data": {"source": "x.csv", "task": "forecasting"}},
            "data.window: is required for forecasting",
        ),
        (
            {"data": {"source": "x.csv", "task": "forecasting", "window": 4}},
            "data.target: is required for forecasting from a file",
        ),
        (
            {"data": {"source": "aeon:GunPoint", "window": 4}},
            "data.window: is not used for classification",
        ),
        (
            {"data": {"source": "aeon:GunPoint", "validation": 0}},
            "data.validation: expected a fraction between 0 and 1",
        ),
        (
            {"data": {"source": "aeon:GunPoint", "test_size": 0}},
            "data.test_size: expected a fraction in (0, 1), a positive count or null",
        ),
        (
            {"data": {"source": "aeon:GunPoint", "missing": "ignore"}},
            "data.missing: expected one of error, drop, fill",
        ),
        (
            {"data": {"source": "aeon:GunPoint", "features": ["a", "a"]}},
            "data.features: expected a list of distinct column names",
        ),
    ],
)
def test_each_problem_is_reported_at_its_field_path(changes, expected):
    found = problems_of(with_changes(**changes))
    assert any(line.startswith(expected) for line in found), found


def test_a_bad_objective_mode_is_reported_with_a_bad_metric():
    found = problems_of(
        with_changes(search={"objective": {"metric": "val_mae", "mode": "maximum"}})
    )
    assert any(p.startswith("search.objective.metric: expected a metric") for p in found)
    assert any(
        p.startswith("search.objective.mode: expected one of min, max")
        and p.endswith('got "maximum"')
        for p in found
    )


def test_the_default_ensemble_fits_a_short_search(tmp_path):
    spec = parse_spec(with_changes(search={"max_trials": 3}), tmp_path)
    assert spec.search.max_trials == 3


def test_all_problems_are_reported_at_once_one_line_each():
    with pytest.raises(SpecError) as caught:
        parse_spec(
            {
                "name": "x",
                "data": {"source": "aeon:GunPoint", "validation": 2},
                "space": {"units": [0], "depth": {"min": 2, "max": 1}},
                "search": {"max_trials": 1, "concurrency": 2, "algorithm": "?"},
                "ray": {"adress": "auto"},
            },
            "/tmp",
            source="x.yaml",
        )
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == "x.yaml has 6 problems:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "data.validation",
        "space.units",
        "space.depth",
        "search.concurrency",
        "search.algorithm",
        "ray.adress",
    ]
    assert caught.value.problems[-1] == (
        "ray.adress: unknown key (did you mean `address`?); allowed: address, num_cpus"
    )
    assert len(caught.value.problems) == 6
    assert isinstance(caught.value, GruSearchError) and isinstance(caught.value, ValueError)


def test_space_shorthands_become_the_right_parameters(tmp_path):
    spec = parse_spec(
        with_changes(
            space={
                "cell": "mgu",
                "units": {"min": 16, "max": 64, "step": 16},
                "dropout": {"min": 0, "max": 0.3, "step": 0.1},
                "learning_rate": {"min": 1e-4, "max": 1e-2, "log": True},
                "bidirectional": [False, True],
                "residual": [True],
                "depth": [1, 2],
                "conv_kernel": {"value": 5, "when": {"depth": 2}},
            }
        ),
        tmp_path,
    )
    kinds = {p.name: type(p).__name__ for p in spec.space.parameters}
    assert kinds == {
        "cell": "Fixed",
        "units": "IntRange",
        "dropout": "FloatRange",
        "learning_rate": "FloatRange",
        "bidirectional": "Boolean",
        "residual": "Fixed",
        "depth": "Choice",
        "conv_kernel": "Fixed",
    }
    assert spec.space["dropout"].low == 0.0 and isinstance(spec.space["dropout"].low, float)
    assert spec.space["conv_kernel"].when[0].values == (2,)


def write(tmp_path: Path, content: bytes | str, name="spec.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", r"spec: expected a mapping with keys name, data, .*got empty"),
        ("- a\n- b\n", r'spec: expected a mapping .*got \["a", "b"\]'),
        ("just text", r'got "just text"'),
        ("name: [unclosed\n", r"is not valid YAML at line 2, column 1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "is not UTF-8 text"),
        ("!!python/object/apply:os.system ['echo hacked']\n", "is not valid YAML"),
        ("[" * 5000 + "]" * 5000, "nested too deeply|not valid YAML"),
    ],
)
def test_a_file_that_is_not_a_spec_raises_spec_error(tmp_path, content, match):
    with pytest.raises(SpecError, match=match):
        load_spec(write(tmp_path, content))


def test_missing_file_and_folder_raise_spec_error(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)


def test_load_spec_keeps_the_text_and_path(tmp_path):
    text = "name: v\ndata: {source: 'aeon:GunPoint'}\n"
    spec = load_spec(write(tmp_path, text))
    assert spec.text == text and spec.path == str((tmp_path / "spec.yaml").resolve())


def test_yaml_aliases_cannot_blow_up_an_error_message(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    path = write(tmp_path, bomb + "name: v\ndata: {source: 'aeon:GunPoint'}\nspace:\n  units: *i\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert max(len(line) for line in str(caught.value).splitlines()) < 400


def test_trial_config_maps_names_and_takes_defaults_for_absent_ones():
    config = trial_config({"cell": "mgu", "units": 32, "learning_rate": 0.003})
    assert config.architecture == Architecture(variant="mgu", units=32)
    assert config.training == TrainingSettings(learning_rate=0.003, batch_size=64)
    assert config.to_dict()["cell"] == "mgu" and "variant" not in config.to_dict()


def test_trial_config_casts_numpy_scalars_and_keras_tuner_booleans():
    config = trial_config(
        {
            "cell": np.str_("convgru"),
            "depth": np.int64(2),
            "units": np.int32(16),
            "bidirectional": np.bool_(True),
            "residual": 1,  # keras-tuner's Choice turns booleans into ints
            "dropout": np.float32(0.25),
            "learning_rate": np.float64(1e-3),
            "batch_size": np.int64(32),
        }
    )
    a = config.architecture
    assert (a.variant, a.depth, a.units, a.bidirectional, a.residual) == (
        "convgru",
        2,
        16,
        True,
        True,
    )
    assert type(a.variant) is str and type(a.depth) is int and type(a.residual) is bool
    assert type(a.dropout) is float and a.dropout == 0.25
    assert type(config.training.batch_size) is int and type(config.training.learning_rate) is float


def test_trial_config_with_the_space_drops_inactive_values(tmp_path):
    spec = parse_spec(
        with_changes(
            space={
                "cell": ["gru", "convgru"],
                "conv_kernel": {"values": [5], "when": {"cell": ["convgru"]}},
            }
        ),
        tmp_path,
    )
    config = trial_config({"cell": "gru", "conv_kernel": 5}, spec.space)
    assert config.architecture.conv_kernel == Architecture().conv_kernel


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"width": 3}, "unknown parameters \\['width'\\]"),
        ({"cell": "lstm"}, "cell='lstm' is not one of the cell names"),
        ({"units": 0}, "units=0 is not one of the positive integers"),
        ({"dropout": 1.0}, "dropout=1.0 is not one of the numbers in \\[0, 1\\)"),
    ],
)
def test_trial_config_rejects_values_outside_the_domains(values, match):
    with pytest.raises(SpecError, match=match):
        trial_config(values)


def test_objective_metrics_cover_every_task():
    assert set(OBJECTIVE_METRICS) == {"classification", "regression", "forecasting"}


def test_built_in_series_and_aeon_regression_sets_need_no_more_than_their_name(tmp_path):
    airline = parse_spec({"name": "a", "data": {"source": "airline"}}, tmp_path)
    assert airline.data.task == "forecasting" and airline.data.window is None  # the source's 24
    covid = parse_spec(
        {"name": "c", "data": {"source": "aeon:Covid3Month", "task": "regression"}}, tmp_path
    )
    assert covid.data.task == "regression"
    with pytest.raises(
        SpecError, match="aeon:GunPoint is a classification dataset, got 'forecasting'"
    ):
        parse_spec(
            {"name": "g", "data": {"source": "aeon:GunPoint", "task": "forecasting"}}, tmp_path
        )


@pytest.mark.parametrize(
    ("folds", "task", "message"),
    [
        (
            0,
            "classification",
            "search.folds: expected auto or a number of folds from 1 to 20, got 0",
        ),
        (
            "many",
            "classification",
            'search.folds: expected auto or a number of folds from 1 to 20, got "many"',
        ),
        (
            21,
            "forecasting",
            "search.folds: expected auto or a number of folds from 1 to 20, got 21",
        ),
    ],
)
def test_folds_are_auto_one_holdout_or_k(tmp_path, folds, task, message):
    data = {"source": "airline"} if task == "forecasting" else {"source": "aeon:GunPoint"}
    assert parse_spec({"name": "f", "data": data}, tmp_path).search.folds is None  # auto
    for k in (1, 3):  # forecasting: k rolling origins (search.data.folds)
        spec = parse_spec({"name": "f", "data": data, "search": {"folds": k}}, tmp_path)
        assert spec.search.folds == k
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec({"name": "f", "data": data, "search": {"folds": folds}}, tmp_path)


def test_downsample_takes_powers_of_two_as_a_list_never_a_range(tmp_path):
    data = {"source": "aeon:GunPoint"}
    spec = parse_spec({"name": "d", "data": data, "space": {"downsample": [1, 2, 4]}}, tmp_path)
    assert spec.space["downsample"].values == (1, 2, 4)
    # {min: 2, max: 4} would sample 3 (found by the property test).
    with pytest.raises(
        SpecError,
        match=re.escape(
            "space.downsample: expected one of the powers of two (1: none) or a list of them"
        ),
    ):
        parse_spec(
            {"name": "d", "data": data, "space": {"downsample": {"min": 2, "max": 4}}}, tmp_path
        )
    with pytest.raises(SpecError, match=re.escape("got [1, 3]; not allowed: [3]")):
        parse_spec({"name": "d", "data": data, "space": {"downsample": [1, 3]}}, tmp_path)


def test_a_null_task_is_left_out_like_any_null_field(tmp_path):
    # It was taken as given: a spec with no data and no problem.
    spec = parse_spec({"name": "x", "data": {"source": "aeon:GunPoint", "task": None}}, tmp_path)
    assert spec.data.task == "classification"
    assert problems_of({"name": "x", "data": {"source": "d.csv", "task": None}}, tmp_path) == (
        "data.task: is required for a file source: one of classification, regression, forecasting",
    )
