"""Writes the lock files: the exact versions of the installed dependency closure.

    .venv/bin/python docker/lock.py      (in a venv where `make install` ran and the tests passed)

Each lock pins what the tested venv holds for one set of requirements, so an image is built, and
`make install` (CI's too) installs, the versions the tests ran on, not whatever is newest on the
day. Linux, Python 3.11.
"""

import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Each lock's top-level requirements, as pyproject parts (None: the core dependencies): the
# training image (on TensorFlow, its `tensorflow` extra), the MLflow image (only its `server`
# extra), and the development venv that `make install` builds (its constraints; `dev` holds
# both backends, so `make test-jax` takes its JAX pins from there too). The project itself is
# installed on top.
LOCKS = {
    "train.lock": (None, "tensorflow"),
    "server.lock": ("server",),
    "dev.lock": (None, "dev"),
}
PROJECT = "gru-search"
ROOT = Path(__file__).resolve().parents[1]


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def top_level(extra: str | None) -> list[Requirement]:
    """pyproject's core requirements (extra None), or only those its `extra` adds (read from the
    file, not the installed metadata, which may predate an edit)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def closure(roots: list[Requirement]) -> dict[str, str]:
    """name -> installed version of every distribution `roots` need here, transitively."""
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r, set(r.extras)) for r in roots]
    while todo:
        requirement, extras = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = md.distribution(requirement.name)
        except md.PackageNotFoundError:
            continue  # a platform's optional dependency this machine does not need
        pins[key[0]] = distribution.version
        for text in distribution.requires or []:
            dependency = Requirement(text)
            if _applies(dependency, extras):
                todo.append((dependency, set(dependency.extras)))
    return pins


def main() -> None:
    folder = ROOT / "docker" / "requirements"
    for file_name, parts in LOCKS.items():
        pins = closure([r for part in parts for r in top_level(part)])
        pins.pop(PROJECT, None)  # `dev` names the project's own `server` extra
        lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
        header = f"# Written by docker/lock.py from the tested venv (Python {sys.version.split()[0]}); do not edit."
        (folder / file_name).write_text("\n".join([header, *lines]) + "\n")
        print(f"{file_name}: {len(lines)} packages")


if __name__ == "__main__":
    main()
