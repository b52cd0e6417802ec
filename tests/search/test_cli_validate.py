"""`gru-search validate`: the summary and exit 0, or every problem and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli import main
from search.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def gru_search(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "search.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )


def test_the_required_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"quickstart.yaml", "vowels.yaml", "airline.yaml"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates(example, capsys):
    assert main(["validate", str(example)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"spec {load_spec(example).name!r} is valid")
    assert "distinct architectures:" in out


def test_the_summary_names_the_time_budget_ensemble_and_refit(capsys):
    assert main(["validate", str(ROOT / "examples" / "vowels.yaml")]) == 0
    out = capsys.readouterr().out
    assert "200 trials of up to 60 epochs within 13 minutes (the whole search)," in out
    assert (
        "(the average of the top 10 trials, refit on training + validation, in what the trials "
        "leave of the last 20 % of the time budget (as much as the best trials' refit is "
        "estimated to need)" in out
    )
    assert "auto: 5-fold cross-validation when the validation split holds < 50 cases" in out


def test_the_summary_says_forecasting_validates_in_time_order(tmp_path, capsys):
    path = tmp_path / "airline.yaml"
    path.write_text("name: air\ndata: {source: airline}\n")
    assert main(["validate", str(path)]) == 0
    assert "one time-ordered holdout" in capsys.readouterr().out
    path.write_text("name: air\ndata: {source: airline}\nsearch: {folds: 3}\n")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 rolling origins" in out and "refit on training + validation" in out


def test_examples_cover_classification_and_forecasting():
    tasks = {load_spec(p).data.task for p in EXAMPLES}
    assert {"classification", "forecasting"} <= tasks


def test_the_quickstart_is_small_enough_for_two_cores_in_minutes():
    spec = load_spec(ROOT / "examples" / "quickstart.yaml")
    assert spec.data.source.startswith("aeon:")  # bundled: no download
    assert spec.search.max_trials * spec.search.max_epochs <= 60
    assert spec.search.concurrency <= 2 and spec.ray.num_cpus == 2
    assert spec.space.num_configurations(exclude=("learning_rate",)) <= 12
    assert max(spec.space["units"].values) <= 32


def test_a_valid_spec_prints_the_summary_and_exits_0():
    result = gru_search("validate", "examples/reference.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "spec 'reference' is valid"
    # One column per field, as wide as the longest parameter name.
    assert (
        "cell               choice   gru | minimal | mgu | layernorm | convgru | sepconvgru"
        in result.stdout
    )
    assert "dimension_shuffle  fixed    false" in result.stdout
    assert "Traceback" not in result.stderr


def test_an_invalid_spec_prints_every_problem_and_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\ndata: {source: 'aeon:GunPoint'}\nserach: {}\nspace: {units: [32, big]}\n"
        "search: {max_trials: 2, concurrency: 3}\n"
    )
    result = gru_search("validate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path} has 3 problems:",
        "  serach: unknown key (did you mean `search`?); allowed: name, data, space, search, "
        "tracking, ray, results_dir",
        '  space.units: expected a list of positive integers or {min, max}, got [32, "big"]; '
        'not allowed: ["big"]',
        "  search.concurrency: expected at most max_trials (2), got 3",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\xff\xfe binary", "is not UTF-8 text"),
        (b"name: [oops\n", "is not valid YAML"),
        (b"", "got empty"),
    ],
)
def test_a_file_that_is_no_spec_exits_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "garbage.yaml"
    path.write_bytes(content)
    result = gru_search("validate", str(path))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_errors_through_main_return_2_without_raising(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such spec file" in err
    (tmp_path / "s.yaml").write_text("name: x\n")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    assert "data: is required" in capsys.readouterr().err


def test_a_closed_pipe_is_not_a_traceback():
    # `gru-search validate spec | head -1`: the reader goes away before the summary is written
    # (the child needs far longer to start than this process needs to close the pipe).
    process = subprocess.Popen(
        [sys.executable, "-m", "search.cli", "validate", "examples/vowels.yaml"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_the_reference_example_states_the_real_defaults():
    reference = load_spec(ROOT / "examples" / "reference.yaml")
    minimal = parse_spec(
        {"name": "reference", "data": {"source": "aeon:GunPoint"}}, ROOT / "examples"
    )
    assert reference.data == minimal.data
    assert reference.search == minimal.search
    assert reference.tracking == minimal.tracking
    assert reference.ray == minimal.ray
    assert reference.results_dir == minimal.results_dir


def test_the_summary_says_a_regression_ensemble_is_weighted_by_greedy_selection(tmp_path, capsys):
    spec = tmp_path / "covid.yaml"
    spec.write_text("name: covid\ndata: {source: 'aeon:Covid3Month', task: regression}\n")
    assert main(["validate", str(spec)]) == 0
    assert (
        "(at most 5 trials weighted by greedy ensemble selection, refit" in capsys.readouterr().out
    )
