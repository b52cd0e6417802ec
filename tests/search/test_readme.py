"""The README agrees with the examples and the code it describes (issue 12 §5)."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import search.driver
from search.cli import main
from search.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _block_after(heading: str, language: str) -> str:
    start = README.index(heading)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(README, start)
    return match.group(1)


def test_the_spec_shown_is_the_vowels_example():
    shown = parse_spec(yaml.safe_load(_block_after("## A spec", "yaml")), ROOT / "examples")
    example = load_spec(ROOT / "examples" / "vowels.yaml")
    assert shown.data == example.data and shown.search == example.search
    assert shown.space == example.space and shown.tracking == example.tracking


def test_the_default_space_shown_is_the_one_validate_prints(tmp_path, capsys):
    spec = tmp_path / "d.yaml"
    spec.write_text("name: d\ndata: {source: 'aeon:GunPoint'}\n")
    assert main(["validate", str(spec)]) == 0
    printed = capsys.readouterr().out
    shown = _block_after("Its `space` is the exception", "")
    for line in shown.splitlines():
        assert line in printed.splitlines(), line


def test_the_run_signature_shown_is_the_real_one():
    names = ", ".join(
        f"{p.name}={p.default}" if p.default is not p.empty else p.name
        for p in inspect.signature(search.driver.run).parameters.values()
    )
    assert f"search.run({names.replace('spec, ', 'spec, *, ')})" in README.replace("\n", " ")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize(
    "path", ["models/q/model.keras", "examples/results/quickstart/search.log", "results/x"]
)
def test_pulled_models_and_results_are_ignored_by_git(path):
    done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    assert done.returncode == 0, f"{path} is not ignored by git"
