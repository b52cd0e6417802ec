"""The model registry's side of a search: package the best model, decide the champion, pull it back.

The best model is stored as an MLflow pyfunc model whose loader (`_load_pyfunc` here) imports
`cells` before it loads the `.keras` file, so `mlflow models serve` works in a process that never heard of this
package's custom layers; `gru-search pull` and `load_model` read the same `.keras` file directly.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from search.errors import GruSearchError, TrackingError

CHAMPION = "champion"
KERAS_FILE = "model.keras"
METADATA_FILE = "metadata.json"
# Tags on each registered version: what the champion rule compares.
OBJECTIVE_TAG, MODE_TAG, VALUE_TAG = "objective", "objective_mode", "objective_value"
FINGERPRINT_TAG, SEARCH_RUN_TAG = "data_fingerprint", "search_run_id"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# The registered-model name that serves as the champion lock of model NAME is NAME + this.
LOCK_SUFFIX = ".champion-lock"


# -- the champion rule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A registered version's claim to be champion: its score and what the score was measured on."""

    version: str
    objective: str
    mode: str  # "min" or "max"
    value: float
    fingerprint: str

    def tags(self) -> dict[str, str]:
        return {
            OBJECTIVE_TAG: self.objective,
            MODE_TAG: self.mode,
            VALUE_TAG: repr(float(self.value)),
            FINGERPRINT_TAG: self.fingerprint,
        }

    @classmethod
    def from_tags(cls, version: str, tags: dict) -> Standing | None:
        try:
            return cls(version, tags[OBJECTIVE_TAG], tags[MODE_TAG], float(tags[VALUE_TAG]), tags[FINGERPRINT_TAG])
        except (KeyError, ValueError):
            return None  # set by hand or by another tool: no comparable score


@dataclass(frozen=True)
class Decision:
    move: bool
    reason: str


def decide(candidate: Standing, champion: Standing | None) -> Decision:
    """The alias moves only to a strictly better score on the same objective and the same data."""
    if champion is None:
        return Decision(True, f"version {candidate.version} is the first champion.")
    if champion.version == candidate.version:
        return Decision(False, f"version {candidate.version} already is the champion.")
    if (champion.objective, champion.mode) != (candidate.objective, candidate.mode):
        return Decision(
            False,
            f"the champion (version {champion.version}) was chosen on {champion.objective} ({champion.mode}), "
            f"this search on {candidate.objective} ({candidate.mode}); the scores are not comparable.",
        )
    if champion.fingerprint != candidate.fingerprint:
        return Decision(
            False,
            f"the champion (version {champion.version}) was trained on other data "
            f"(fingerprint {champion.fingerprint[:12]}, this search {candidate.fingerprint[:12]}); "
            "the scores are not comparable.",
        )
    better = candidate.value > champion.value if candidate.mode == "max" else candidate.value < champion.value
    if better:
        return Decision(
            True,
            f"{candidate.objective} {candidate.value:.4g} beats the champion's {champion.value:.4g} "
            f"(version {champion.version}).",
        )
    return Decision(
        False,
        f"{candidate.objective} {candidate.value:.4g} does not beat the champion's {champion.value:.4g} "
        f"(version {champion.version}).",
    )


def register_and_promote(tracker, name: str, source: str, run_id: str, candidate: Standing, tags: dict):
    """Registers a new version and moves `champion` to it if `decide` says so; returns (version, Decision)."""
    version = tracker.register(name, source, run_id, {**tags, **candidate.tags()})
    candidate = Standing(version, candidate.objective, candidate.mode, candidate.value, candidate.fingerprint)
    # Two searches finishing at once would both read the old champion, both decide to move, and
    # the later write would win even if it is the worse model: read, decide and write under a lock.
    with tracker.exclusive(f"{name}{LOCK_SUFFIX}"):
        current = tracker.version_by_alias(name, CHAMPION)
        standing = None if current is None else Standing.from_tags(str(current.version), dict(current.tags))
        if current is not None and standing is None:
            decision = Decision(False, f"the champion (version {current.version}) has no recorded score to compare with.")
        else:
            decision = decide(candidate, standing)
        if decision.move:
            tracker.set_alias(name, CHAMPION, version)
    return version, decision


# -- packaging -----------------------------------------------------------------------------------


def _load_pyfunc(path: str):
    """MLflow's pyfunc loader (`loader_module=search.registry`): imports `cells`, then the model."""
    register_cells()

    folder = Path(path)
    return _KerasPredictor(safe_load(folder / KERAS_FILE if folder.is_dir() else folder, str(folder)))


class _KerasPredictor:
    """What `mlflow models serve` calls: raw (batch, steps, features) float32 in, model output out."""

    def __init__(self, model):
        self.model = model

    def predict(self, model_input, params=None):
        import numpy as np

        return self.model.predict(np.asarray(model_input, dtype="float32"), verbose=0)


def package(keras_path: str, metadata: dict, out_dir: str, *, input_shape, output_shape) -> str:
    """Writes an MLflow pyfunc model folder holding the `.keras` file and metadata.json."""
    import mlflow.pyfunc
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    data = Path(tempfile.mkdtemp(prefix="gru-search-model-")) / "keras"
    data.mkdir()
    shutil.copyfile(keras_path, data / KERAS_FILE)
    (data / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
    f32 = np.dtype("float32")
    signature = ModelSignature(
        inputs=Schema([TensorSpec(f32, (-1, *(d if d is not None else -1 for d in input_shape)))]),
        outputs=Schema([TensorSpec(f32, (-1, *output_shape))]),
    )
    # A loader module rather than a pickled PythonModel: nothing is unpickled at serving time,
    # and the loader imports `cells` before Keras reads the file.
    with warnings.catch_warnings():
        # The signature is explicit; an input example would store data cases in the registry.
        # (MLflow's message starts with a colour code, hence the leading `.*`.)
        warnings.filterwarnings("ignore", ".*An input example was not provided", UserWarning)
        mlflow.pyfunc.save_model(
            out_dir,
            loader_module="search.registry",
            data_path=str(data),
            signature=signature,
            # Explicit: inferring requirements imports and probes the model (~20 s).
            pip_requirements=pip_requirements(),
        )
    shutil.rmtree(data.parent, ignore_errors=True)
    return out_dir


def pip_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["gru-search", "keras", "tensorflow", "mlflow", "numpy"]
    out = []
    for name in names:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(name)
    return out


# -- pulling and loading -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"{self.name}/{self.version}" if self.version else f"{self.name}@{self.alias}"


def parse_ref(text: str) -> ModelRef:
    """`NAME`, `NAME@ALIAS`, `NAME/VERSION`, with or without a `models:/` prefix."""
    body = text.removeprefix("models:/")
    if "@" in body:
        name, alias = body.split("@", 1)
        ref = ModelRef(name, alias=alias)
    elif "/" in body:
        name, version = body.rsplit("/", 1)
        ref = ModelRef(name, version=version)
    else:
        ref = ModelRef(body, alias=CHAMPION)
    if not ref.name or (ref.version is not None and not ref.version.isdigit()) or ref.alias == "":
        raise GruSearchError(f"Model reference must look like NAME, NAME@ALIAS or NAME/VERSION, but got {text!r}.")
    return ref


@dataclass(frozen=True)
class Pulled:
    ref: str
    version: str
    model_path: Path
    metadata_path: Path
    metadata: dict


def pull(tracker, text: str, out_dir: str) -> Pulled:
    """Copies a registered version's `.keras` file and metadata.json into `out_dir`."""
    ref = parse_ref(text)
    if ref.alias is not None:
        found = tracker.version_by_alias(ref.name, ref.alias)
        if found is None:
            raise TrackingError(
                f"No model {ref.name!r} with alias {ref.alias!r} in {tracker.uri!r}; "
                "run a search first or name a version as NAME/VERSION."
            )
        version = str(found.version)
    else:
        version = str(tracker.version(ref.name, ref.version).version)
    folder = tracker.download_version(ref.name, version)
    keras_file, meta_file = _find(folder, KERAS_FILE), _find(folder, METADATA_FILE)
    try:
        # Refused here, before the file reaches the user's folder, when loading it would run code.
        safe_load(keras_file, str(ref))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(keras_file, out / KERAS_FILE)
    metadata = json.loads(meta_file.read_text())
    metadata.update(registered_model=ref.name, version=version, model_uri=f"models:/{ref.name}/{version}")
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    return Pulled(str(ref), version, out / KERAS_FILE, out / METADATA_FILE, metadata)


def load_model(uri: str, *, tracking_uri: str | None = None):
    """A Keras model from `models:/NAME@ALIAS`, `models:/NAME/VERSION`, a pulled folder or a .keras file."""
    register_cells()

    path = Path(uri)
    if not uri.startswith("models:/"):
        if path.is_dir():
            path = path / KERAS_FILE
        if not path.is_file():
            raise GruSearchError(f"No model at {uri!r}; pass models:/NAME@ALIAS, models:/NAME/VERSION or a .keras file.")
        return safe_load(path, uri)
    from search.tracking import Tracker

    tracker = Tracker(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI))
    with tempfile.TemporaryDirectory(prefix="gru-search-load-") as folder:
        pulled = pull(tracker, uri, folder)
        return safe_load(pulled.model_path, uri)


def safe_load(path, what: str):
    """keras.saving.load_model with safe_mode=True: a file whose loading would run code is refused.

    Keras' safe mode refuses Lambda layers and other serialized Python functions; the model
    files gru-search writes have none, so a file that needs them did not come from a search.
    """
    register_cells()
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except ValueError as error:
        if "safe_mode" not in str(error) and "unsafe" not in str(error).lower():
            raise
        raise GruSearchError(
            f"Refusing to load the model {what}: it holds Python code (a Lambda layer or a serialized "
            "function) that would run on load; gru-search models never do, so get the model from a trusted source."
        ) from None


def _find(folder: Path, filename: str) -> Path:
    matches = sorted(Path(folder).rglob(filename))
    if not matches:
        raise TrackingError(f"The registered model has no {filename}; it was not logged by gru-search.")
    return matches[0]


def register_cells() -> None:
    """Loading a model with custom cells needs their classes registered with Keras first.

    Every one of them: the builder imports the attention layers only when it builds one, so a
    fresh process that loads an attention model has not imported them.
    """
    import cells

    cells.register_all()
