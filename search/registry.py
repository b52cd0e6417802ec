"""The model registry's side of a search: decide the champion, pull a registered model back.

search.packaging writes the registered folder (an MLflow pyfunc model that carries `cells`
and a SavedModel); `gru-search pull` and `load_model` read its `.keras` file, or its SavedModel.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cells.backend import installed
from cells.serving import KERAS_FILE, METADATA_FILE
from search.errors import GruSearchError, NotFoundError, TrackingError
from search.packaging import SAVEDMODEL_DIR
from search.spec.problems import close_names
from search.tracker_protocols import ChampionRegistry

CHAMPION = "champion"
# The pulled folder: the model in the chosen format, metadata.json, and for `keras` the code/
# folder holding `cells`, so `keras.saving.load_model` works there without gru-search.
FORMATS = {"keras": KERAS_FILE, "savedmodel": SAVEDMODEL_DIR, "onnx": "model.onnx"}
CODE_DIR = "code"
# Tags on each registered version: what the champion rule compares.
OBJECTIVE_TAG, MODE_TAG, VALUE_TAG = "objective", "objective_mode", "objective_value"
FINGERPRINT_TAG, SEARCH_RUN_TAG = "data_fingerprint", "search_run_id"
# On a search's parent run: "true" while its version holds the champion alias. Kept true when the
# alias moves (register_and_promote); an alias moved by hand elsewhere leaves it as it was.
CHAMPION_RUN_TAG = "champion"
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
            return cls(
                version,
                tags[OBJECTIVE_TAG],
                tags[MODE_TAG],
                float(tags[VALUE_TAG]),
                tags[FINGERPRINT_TAG],
            )
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
    better = (
        candidate.value > champion.value
        if candidate.mode == "max"
        else candidate.value < champion.value
    )
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


def register_and_promote(
    tracker: ChampionRegistry, name: str, source: str, run_id: str, candidate: Standing, tags: dict
):
    """Registers a new version and moves `champion` to it if `decide` says so.

    Returns (version, Decision).
    The search runs' `champion` tags follow the alias: true on the run whose version holds it,
    false on the one that held it before.
    """
    version = tracker.register(name, source, run_id, {**tags, **candidate.tags()})
    candidate = Standing(
        version, candidate.objective, candidate.mode, candidate.value, candidate.fingerprint
    )
    # Two searches finishing at once would both read the old champion, both decide to move, and
    # the later write would win even if it is the worse model: read, decide and write under a lock.
    with tracker.exclusive(f"{name}{LOCK_SUFFIX}"):
        current = tracker.version_by_alias(name, CHAMPION)
        standing = (
            None
            if current is None
            else Standing.from_tags(str(current.version), dict(current.tags))
        )
        if current is not None and standing is None:
            decision = Decision(
                False,
                f"the champion (version {current.version}) has no recorded score to compare with.",
            )
        else:
            decision = decide(candidate, standing)
        if decision.move:
            tracker.set_alias(name, CHAMPION, version)
            if current is not None:
                _tag_champion_run(tracker, current, False)
        tracker.set_tags(run_id, {CHAMPION_RUN_TAG: str(decision.move).lower()})
    return version, decision


def _tag_champion_run(tracker, version, champion: bool) -> None:
    run_id = getattr(version, "run_id", None) or dict(version.tags).get(SEARCH_RUN_TAG)
    if not run_id:
        return
    # The old run may have been deleted since: then nothing is left to correct.
    with contextlib.suppress(Exception):
        tracker.set_tags(run_id, {CHAMPION_RUN_TAG: str(champion).lower()})


# -- serving versions registered before the model carried its code -----------------------------


def _load_pyfunc(path: str):
    """The pyfunc loader of versions whose MLmodel names `loader_module: search.registry`.

    New versions name `cells.serving`, shipped in their own code/ folder (search.packaging).
    """
    from cells.serving import _load_pyfunc as load

    folder = Path(path)
    return load(str(folder if folder.is_dir() else folder.parent))


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
        raise GruSearchError(
            f"Model reference must look like NAME, NAME@ALIAS or NAME/VERSION, but got {text!r}."
        )
    return ref


def not_found(tracker, ref: ModelRef) -> NotFoundError:
    """What a user needs when `ref` names nothing: the close names, the versions, the aliases."""
    where = f"in {tracker.uri}"
    model = tracker.registered_model(ref.name)
    if model is None:
        names = [n for n in tracker.registered_model_names() if not n.endswith(LOCK_SUFFIX)]
        if not names:
            return NotFoundError(
                f"There is no registered model {ref.name!r} {where}; no model is registered there yet."
            )
        return NotFoundError(
            f"There is no registered model {ref.name!r} {where}; {close_names(ref.name, names, 'models')}"
        )
    versions, aliases = model
    held = ", ".join(f"{alias} -> {v}" for alias, v in sorted(aliases.items())) or "none"
    listed = ", ".join(versions) or "none"
    if ref.version is not None:
        return NotFoundError(
            f"Model {ref.name!r} has no version {ref.version} {where}; "
            f"its versions are {listed} (aliases: {held})."
        )
    return NotFoundError(
        f"Model {ref.name!r} has no alias {ref.alias!r} {where}; its aliases are {held} "
        f"(versions: {listed}); pull NAME/VERSION for a version without one."
    )


@dataclass(frozen=True)
class Pulled:
    ref: str
    version: str
    model_path: Path
    metadata_path: Path
    metadata: dict


def pull(tracker, text: str, out_dir: str, model_format: str = "keras") -> Pulled:
    """Writes a registered version into `out_dir` in `model_format` (FORMATS), with metadata.json."""
    if model_format not in FORMATS:
        raise GruSearchError(
            f"The model format must be one of {', '.join(FORMATS)}, but got {model_format!r}."
        )
    ref = parse_ref(text)
    if ref.alias:
        found = tracker.version_by_alias(ref.name, ref.alias)
    else:
        found = tracker.version(ref.name, ref.version)
    if found is None:
        raise not_found(tracker, ref)
    version = str(found.version)
    folder = tracker.download_version(ref.name, version)
    try:
        keras_file, meta_file = _find(folder, KERAS_FILE), _find(folder, METADATA_FILE)
        # Refused here, before anything reaches the user's folder, when loading it would run code.
        safe_load(keras_file, str(ref))
        out = Path(out_dir)
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        model_path = out / FORMATS[model_format]
        try:
            _write(model_format, keras_file, folder, model_path)
        except BaseException:
            if created:  # a failed pull leaves no empty folder behind
                shutil.rmtree(out, ignore_errors=True)
            raise
        metadata = json.loads(meta_file.read_text())
        metadata.update(
            registered_model=ref.name, version=version, model_uri=f"models:/{ref.name}/{version}"
        )
        (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Pulled(str(ref), version, model_path, out / METADATA_FILE, metadata)


def _write(model_format: str, keras_file: Path, folder: Path, target: Path) -> None:
    from search import packaging

    if model_format == "keras":
        shutil.copyfile(keras_file, target)
        code = _find_dir(folder, CODE_DIR)
        if code is not None:
            shutil.copytree(code, target.parent / CODE_DIR, dirs_exist_ok=True)
        return
    shutil.rmtree(target, ignore_errors=True)
    if model_format == "onnx":
        packaging.export_onnx(keras_file, target)
        return
    logged = _find_dir(folder, SAVEDMODEL_DIR)
    if logged is not None:
        shutil.copytree(logged, target)
    elif not installed("tensorflow"):
        raise GruSearchError(
            "This model has no SavedModel and TensorFlow, which would export one, is not "
            "installed here; pull --format keras, or install gru-search[tensorflow] and pull again."
        )
    elif not packaging.export_savedmodel(keras_file, target):
        # A version registered before SavedModels were logged is exported here instead.
        raise GruSearchError(
            "This model could not be exported as a SavedModel (see the log above); pull --format keras."
        )


def _find_dir(folder: Path, name: str) -> Path | None:
    matches = sorted(p for p in Path(folder).rglob(name) if p.is_dir())
    return matches[0] if matches else None


def load_model(uri: str, *, tracking_uri: str | None = None):
    """A Keras model from `models:/NAME@ALIAS`, `models:/NAME/VERSION`, a pulled folder or a .keras file."""
    register_cells()

    path = Path(uri)
    if not uri.startswith("models:/"):
        if path.is_dir():
            path = path / KERAS_FILE
        if not path.is_file():
            raise GruSearchError(
                f"No model at {uri!r}; pass models:/NAME@ALIAS, models:/NAME/VERSION or a .keras file."
            )
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
        raise TrackingError(
            f"The registered model has no {filename}; it was not logged by gru-search."
        )
    return matches[0]


def register_cells() -> None:
    """Loading a model with custom cells needs their classes registered with Keras first.

    Every one of them: the builder imports the attention layers only when it builds one, so a
    fresh process that loads an attention model has not imported them.
    """
    import cells

    cells.register_all()
