"""Checks of a spec against this machine: its data file exists, its `aeon:` name is a problem
aeon has offline, and the CPUs and GPUs a trial asks for are here.

The parser (search.spec.loading) reads only the spec, so a spec can be checked for a machine it
will not run on; these read the file system and the machine. `gru-search validate` and `run`
pass `check_environment` to `load_spec(path, checks=...)`, which adds its problems to the
parser's, so every problem is still reported in one pass. It reads the raw mapping, because the
parser builds no `Spec` from a spec with problems, and looks only at fields whose form the parser
accepted, so nothing is reported twice. Nothing here imports TensorFlow, Ray or aeon.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from search.aeon_offline import available_aeon
from search.local_gpus import visible_gpus
from search.spec.data_section import FILE_EXTENSIONS, builtin_task
from search.spec.fields import is_number
from search.spec.problems import Problems, show, suggestion

GPU_PATH = "search.resources_per_trial.gpu"
CPU_PATH = "search.resources_per_trial.cpu"


def check_environment(
    problems: Problems,
    mapping: Mapping[str, Any],
    base_dir: Path,
    *,
    count_gpus: Callable[[], int | None] | None = None,
    count_cpus: Callable[[], int | None] = os.cpu_count,
    aeon_names: Callable[[str], list[str]] | None = None,
) -> None:
    """Adds this machine's problems with the spec `mapping` (read from `base_dir`) to `problems`.
    `count_gpus`, `count_cpus` and `aeon_names` replace the real look-ups (tests)."""
    data = _mapping(mapping.get("data"))
    source = data.get("source")
    if isinstance(source, str) and source.startswith("aeon:") and builtin_task(source):
        _check_aeon(problems, source.removeprefix("aeon:"), data.get("task"), aeon_names)
    elif (
        isinstance(source, str)
        and builtin_task(source) is None
        and source.lower().endswith(FILE_EXTENSIONS)
    ):
        _check_file(problems, source, base_dir)
    _check_cpus(problems, mapping, count_cpus)
    _check_gpus(problems, mapping, count_gpus or visible_gpus)


def _mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _check_aeon(
    problems: Problems, name: str, task: Any, aeon_names: Callable[[str], list[str]] | None
) -> None:
    names_for = aeon_names or available_aeon
    # Regression is the only other task an aeon problem can be (the parser says so otherwise).
    wanted = "regression" if task == "regression" else "classification"
    names = names_for(wanted)
    if name in names:
        return
    other = "classification" if wanted == "regression" else "regression"
    if name in names_for(other):
        problems.add("data.source", f"aeon:{name} is a {other} data set; set data.task: {other}")
        return
    problems.add(
        "data.source",
        f"aeon has no {wanted} data set {name!r} offline{suggestion(name, names)}; "
        f"use one of {', '.join(names) or '(none found)'}, or your own file",
    )


def _check_file(problems: Problems, source: str, base_dir: Path) -> None:
    # The data layer takes a relative path from the spec's folder, as the parser resolves it.
    try:
        given = Path(source).expanduser()
        path = (base_dir / given).resolve()
        if path.is_file():
            return
        if path.is_dir():
            problems.add("data.source", f"{source} is a folder; give a .csv, .parquet or .npz file")
            return
        siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
    except (OSError, RuntimeError, ValueError):
        return  # unreadable here: the data layer reports what it meets when it reads the file
    known = [name for name in siblings if name.lower().endswith(FILE_EXTENSIONS)]
    close = suggestion(path.name, known).strip(" ()")
    if given.is_absolute():
        problems.add("data.source", f"no file {source}" + (f" ({close})" if close else ""))
        return
    where = f"looked in {base_dir}, the spec's folder" + (f"; {close}" if close else "")
    problems.add("data.source", f"no file {source} ({where})")


def _local_request(mapping: Mapping[str, Any], resource: str) -> float | None:
    """What `resources_per_trial.<resource>` asks of a local Ray, or None: not a positive number
    (the parser reports that), or a cluster's address, whose nodes cannot be seen from here
    (`auto` may join one with more nodes); `run` checks those once it has joined them."""
    wants = _mapping(_mapping(mapping.get("search")).get("resources_per_trial")).get(resource)
    address = _mapping(mapping.get("ray")).get("address")
    if not is_number(wants) or wants <= 0 or address not in (None, "local"):
        return None
    return wants


def _check_cpus(
    problems: Problems, mapping: Mapping[str, Any], count_cpus: Callable[[], int | None]
) -> None:
    """A trial needing more CPUs than the local Ray has would wait, pending, for the whole budget."""
    cpu = _local_request(mapping, "cpu")
    if cpu is None:
        return
    num_cpus = _mapping(mapping.get("ray")).get("num_cpus")
    if is_number(num_cpus) and num_cpus >= 1:
        available, has = num_cpus, f"ray.num_cpus gives the local Ray {num_cpus}"
    else:
        available = count_cpus()
        has = f"this machine has {available}"
    if available is None or cpu <= available:
        return
    problems.add(
        CPU_PATH,
        f"asks for {show(cpu)} CPU{'' if cpu <= 1 else 's'} per trial, but {has}, so no trial "
        f"could start; ask for at most {available}, or set ray.address to a cluster with larger "
        "nodes",
    )


def _check_gpus(
    problems: Problems, mapping: Mapping[str, Any], count_gpus: Callable[[], int | None]
) -> None:
    gpu = _local_request(mapping, "gpu")
    if gpu is None:
        return
    available = count_gpus()
    if available is None or gpu <= available:
        return
    asked = f"asks for {show(gpu)} GPU{'' if gpu <= 1 else 's'} per trial"
    if available == 0:
        problems.add(
            GPU_PATH,
            f"{asked}, but this machine has no GPU Ray can use; set it to 0, or set "
            "ray.address to a cluster with GPUs",
        )
    else:
        problems.add(
            GPU_PATH,
            f"{asked}, but this machine has {available}; ask for at most {available}, or set "
            "ray.address to a cluster with larger GPU nodes",
        )
