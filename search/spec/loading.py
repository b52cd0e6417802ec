"""Reading a spec: YAML (safe loader, a spec is data) -> validated `Spec`, or one SpecError."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from search.errors import SpecError
from search.spec.data_section import parse_data
from search.spec.first_trials import parse_first_trials
from search.spec.model import Spec
from search.spec.problems import Problems, show
from search.spec.settings_section import parse_ray, parse_search, parse_tracking
from search.spec.space_section import parse_space

TOP_KEYS = ("name", "data", "space", "search", "tracking", "ray", "results_dir")
# Names an MLflow experiment, a registered model and a folder: keep it portable.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# A spec is a few kilobytes; anything far larger is not one.
_MAX_BYTES = 1_000_000

# Adds more problems with a spec (its mapping, read from its folder) to the parser's: checks
# against this machine (search.spec.environment_checks) that the pure parser leaves out.
Check = Callable[[Problems, Mapping, Path], None]


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading `1e-4` as the number YAML 1.2 (and every user) means.

    PyYAML follows YAML 1.1, where a float needs a dot (`1.0e-4`), so `learning_rate: 1e-4`
    was the string "1e-4" and the spec refused it.
    """


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_spec(path: str | Path, *, checks: Check | None = None) -> Spec:
    """Read and validate the YAML spec at `path`; relative paths in it are from its folder.
    `checks` adds its problems to the parser's, reported together."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file; check the path.") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder; give the path of a YAML spec file.") from None
    except OSError as error:
        raise SpecError(f"{path}: cannot be read ({error.strerror}).") from None
    if len(raw) > _MAX_BYTES:
        raise SpecError(f"{path}: is {len(raw):,} bytes; a spec is a small YAML file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path}: is not UTF-8 text; a spec is a YAML file.") from None
    try:
        mapping = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid syntax"
        raise SpecError(f"{path}: is not valid YAML{where}: {problem}.") from None
    except RecursionError:
        raise SpecError(f"{path}: is nested too deeply to be a spec.") from None
    spec = parse_spec(mapping, path.resolve().parent, source=str(path), checks=checks)
    return dataclasses.replace(spec, path=str(path.resolve()), text=text)


def parse_spec(
    mapping: Any, base_dir: str | Path, *, source: str = "spec", checks: Check | None = None
) -> Spec:
    """Validate a spec already read into Python objects; raise SpecError listing every problem
    (the parser's, then those `checks` finds)."""
    problems = Problems()
    if not isinstance(mapping, Mapping):
        what = "empty" if mapping is None else show(mapping)
        problems.add("spec", f"expected a mapping with keys {', '.join(TOP_KEYS)}, got {what}")
        problems.raise_if_any(source)
    base_dir = Path(base_dir).expanduser().resolve()
    try:
        return _parse(problems, mapping, base_dir, source, checks)
    except RecursionError:
        raise SpecError(f"{source}: is nested too deeply to be a spec.") from None


def _parse(
    problems: Problems, mapping: Mapping, base_dir: Path, source: str, checks: Check | None
) -> Spec:
    problems.unknown_keys("", mapping, TOP_KEYS)
    name = mapping.get("name")
    if name is None:
        problems.add("name", "is required: it names the MLflow experiment and registered model")
    elif not isinstance(name, str) or not NAME.match(name):
        problems.expected(
            "name", "letters, digits, '_', '.', '-' (starting with a letter or digit)", name
        )
        name = None
    data = parse_data(problems, mapping.get("data"), base_dir)
    task = data.task if data else _task_hint(mapping.get("data"))
    space = parse_space(problems, mapping.get("space"), task=task)
    search = parse_search(problems, mapping.get("search"), task)
    # Checked even when the rest of `search` has problems: every problem is reported in one pass.
    given = mapping.get("search") if isinstance(mapping.get("search"), Mapping) else {}
    algorithm = search.algorithm if search is not None else given.get("algorithm")
    first = parse_first_trials(problems, given.get("first_trials"), space, task, algorithm)
    if search is not None:
        search = dataclasses.replace(search, first_trials=first)
    tracking = parse_tracking(problems, mapping.get("tracking"), name or "search", base_dir)
    ray = parse_ray(problems, mapping.get("ray"))
    results_dir = mapping.get("results_dir")
    if results_dir is not None and (not isinstance(results_dir, str) or not results_dir.strip()):
        problems.expected("results_dir", "a folder path", results_dir)
    if checks is not None:
        checks(problems, mapping, base_dir)
    problems.raise_if_any(source)
    results = Path(results_dir).expanduser() if results_dir else Path("results") / name
    return Spec(
        name=name,
        data=data,
        space=space,
        search=search,
        tracking=tracking,
        ray=ray,
        results_dir=str((base_dir / results).resolve()),
    )


def _task_hint(data: Any) -> str | None:
    """The task a broken data section states, so the objective is still checked against it."""
    if isinstance(data, Mapping) and data.get("task") in (
        "classification",
        "regression",
        "forecasting",
    ):
        return data["task"]
    return None
