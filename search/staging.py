"""The folder a cluster job carries: the spec plus the local data file it reads.

Ray ships a job's `working_dir` to the head and every worker, so a spec whose `data.source` is a
file on the user's machine still works there: the file is copied next to the spec and the
staged spec points at the copy by a relative path (read from the spec's folder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import yaml

from search.errors import DataError, SpecError

STAGED_SPEC = "spec.yaml"
DATA_DIR = "data"
# Built-in sources name data that ships with the package on every node.
_BUILTIN_PREFIXES = ("aeon:", "airline", "adding")


def read_mapping(spec_path: str | Path) -> dict:
    """The spec file as a YAML mapping; SpecError when it cannot be read."""
    path = Path(spec_path)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise SpecError(
            f"The spec file {str(path)!r} does not exist or cannot be read; check the path."
        )
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SpecError(f"The spec file {str(path)!r} is not readable YAML: {error}") from error
    if not isinstance(mapping, dict):
        raise SpecError(
            f"The spec file {str(path)!r} must hold a mapping, but it holds {type(mapping).__name__}."
        )
    return mapping


def local_data_file(mapping: dict, spec_dir: Path) -> Path | None:
    """The data file `data.source` names (None for a built-in dataset); DataError if unreadable."""
    source = str((mapping.get("data") or {}).get("source", ""))
    if not source or source.startswith(_BUILTIN_PREFIXES):
        return None
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = spec_dir / path
    if not path.is_file() or not os.access(path, os.R_OK):
        raise DataError(
            f"The data file {str(path)!r} named by data.source does not exist or cannot be read; "
            "fix data.source (a relative path is read from the spec's folder)."
        )
    return path


def confine(base: Path, value, field: str) -> Path:
    """`value` resolved against `base`; SpecError when it lands outside `base`.

    A spec sent to a cluster is read there against the job's working directory: an absolute path
    or `..` would write into (or read from) folders of the node that the job has no business in.
    """
    text = str(value)
    resolved = (base / Path(text).expanduser()).resolve()
    if Path(text).expanduser().is_absolute() or not resolved.is_relative_to(base.resolve()):
        raise SpecError(
            f"{field} {text!r} leaves the job's folder on the cluster; give a relative path inside it, "
            "or pass --results-dir for a folder every node shares."
        )
    return resolved


def stage(spec_path: str | Path, results_dir: str | None = None) -> Path:
    """Copy the spec and its data file into a new temporary folder; the caller removes it."""
    spec_path = Path(spec_path)
    mapping = read_mapping(spec_path)
    data_file = local_data_file(mapping, spec_path.resolve().parent)
    folder = Path(tempfile.mkdtemp(prefix="gru-search-job-"))
    try:
        if data_file is not None:
            (folder / DATA_DIR).mkdir()
            shutil.copy2(data_file, folder / DATA_DIR / data_file.name)
            mapping["data"] = {**mapping["data"], "source": f"{DATA_DIR}/{data_file.name}"}
        if results_dir is not None:
            mapping["results_dir"] = results_dir  # the operator's choice (a shared folder)
        elif mapping.get("results_dir") is not None:
            confine(folder, mapping["results_dir"], "results_dir")
        # The job's driver runs on the cluster: join it, whatever the spec says for local runs
        # (num_cpus sizes a local Ray only, and Ray refuses it when joining a cluster).
        ray_section = {k: v for k, v in (mapping.get("ray") or {}).items() if k != "num_cpus"}
        mapping["ray"] = {**ray_section, "address": "auto"}
        (folder / STAGED_SPEC).write_text(
            yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8"
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder
