"""Which Keras backend runs, decided here once, before Keras is imported.

Keras takes `KERAS_BACKEND`, else the `backend` of `~/.keras/keras.json`, else TensorFlow; and on
its first import it writes that file naming TensorFlow, so the file rarely says what a user
chose. gru-search installs with either backend (its `tensorflow` or `jax` extra). Where
`KERAS_BACKEND` is unset and the backend Keras would take is not installed, `choose_backend` sets
`KERAS_BACKEND` to one that is: TensorFlow, else JAX. A registered model's loader (cells.serving)
passes the backend the model was trained with, which wins over the file. `KERAS_BACKEND` set by
the user always wins. `import cells` applies the rule, and every entry point imports `cells` (or
`search`, which imports it) before Keras: the CLI, the Python API, Ray's trial workers (which
also inherit the driver's `KERAS_BACKEND`), and the model loader.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

BACKEND_ENV = "KERAS_BACKEND"
# The Keras backends gru-search installs (the extras of the same names), in order of preference.
BACKENDS = ("tensorflow", "jax")


def installed(module: str) -> bool:
    """Whether `module` can be imported here (without importing it)."""
    if module in sys.modules:
        return sys.modules[module] is not None  # None: imports of it are blocked
    return importlib.util.find_spec(module) is not None


def keras_default() -> str:
    """The backend Keras takes without `KERAS_BACKEND`: its config file's, else TensorFlow."""
    home = os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser()
    try:
        named = json.loads((Path(home) / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        named = None
    return named or "tensorflow"


def keras_setting() -> str:
    """The backend Keras takes when it is imported now."""
    return os.environ.get(BACKEND_ENV) or keras_default()


def choose_backend(preferred: str | None = None) -> str | None:
    """Sets `KERAS_BACKEND` where it is unset, Keras is not imported yet and the module doc's rule
    picks another backend than Keras would: `preferred` (a model's training backend) if it is
    installed, else Keras' own choice if installed, else TensorFlow or JAX, whichever is.
    Returns the backend set, or None.
    """
    if "keras" in sys.modules or os.environ.get(BACKEND_ENV):
        return None
    default = keras_default()
    if preferred is None and installed(default):
        return None
    candidates = ((preferred,) if preferred in BACKENDS else ()) + BACKENDS
    chosen = next((name for name in candidates if installed(name)), None)
    if chosen is None or chosen == default:
        return None  # Keras names the missing package itself when there is none
    os.environ[BACKEND_ENV] = chosen
    return chosen
