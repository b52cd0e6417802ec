"""The validated spec: frozen value objects, built only from a spec with no problems."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from cells.architecture import Architecture, HeadKind
from space import Space

Missing = Literal["error", "drop", "fill"]
Algorithm = Literal["random", "grid", "bayesian"]
Scheduler = Literal["fifo", "asha", "hyperband"]

ALGORITHMS = ("random", "grid", "bayesian")
SCHEDULERS = ("fifo", "asha", "hyperband")
# How the registered model's trials are chosen (search.ensemble_selection, search.selection).
ENSEMBLE_SELECTIONS = ("auto", "greedy", "top")
MISSING_POLICIES = ("error", "drop", "fill")

# What a trial can report per epoch (Keras history names; see cells.compile_model), by task.
# A regression/forecasting model is compiled with loss mse plus metric mae, so mse equals loss;
# the trial runner reports it under both names.
OBJECTIVE_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("val_accuracy", "val_loss", "accuracy", "loss"),
    "regression": ("val_loss", "val_mae", "val_mse", "loss", "mae", "mse"),
    "forecasting": ("val_loss", "val_mae", "val_mse", "loss", "mae", "mse"),
}
DEFAULT_OBJECTIVE = {
    "classification": "val_accuracy",
    "regression": "val_loss",
    "forecasting": "val_loss",
}
# Higher is better only for accuracy; every loss and error is minimised.
MAXIMISED_METRICS = ("val_accuracy", "accuracy")


def resolve_ensemble_selection(requested: str, task: str | None) -> str:
    """`auto`: greedy selection for regression, the top trials otherwise.

    Chosen on validation cases alone (benchmarks/ensemble_selection.py: each rule chooses on a
    random half of the trials' held-out predictions and is scored on the other half). Greedy
    won on both regression sets (CardanoSentiment MSE 0.062 against 0.068, Covid3Month 0.0018
    against 0.0019) and lost on four of six classification sets, where accuracy on a few dozen
    cases is too coarse to select weights by (Covid3Month_disc 0.612 against 0.625, OSULeaf
    0.941 against 0.954). Forecasting keeps the top trials: on the four series outside the
    suite's table (2026-12-08, 5-minute searches), greedy won that validation comparison (0.57 to
    0.99 of top's MSE) but not on the test windows that follow the validation period (the
    trials' own models, benchmarks/ensemble_size.py), where it weighted the best trial most:
    Solar 7.3e-4 against 5.1e-4, AirlineInner 228 against 214, PBS 0.214 against 0.220,
    LynxInner 1.19e6 against 1.18e6. A forecaster's later windows are not drawn from its
    validation windows' distribution.
    """
    if requested != "auto":
        return requested
    return "greedy" if task == "regression" else "top"


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is split; read by `search.data.prepare`."""

    # "aeon:<Name>", "airline", "adding" / "adding:T=100", or a .csv/.parquet/.npz file
    # (an absolute path after parsing: relative paths are taken from the spec's folder).
    source: str
    task: HeadKind
    # Fraction of the training cases (time-ordered for forecasting) held out for validation.
    validation: float = 0.2
    # None: the source's own test split where it has one (aeon, NPZ x_test, a CSV split column),
    # else 20 % of the cases (classification/regression) or of the last steps (forecasting).
    # A float in (0, 1) is a fraction; an int is a number of cases (steps for forecasting).
    test_size: float | int | None = None
    # Long-format tables (classification/regression): one row per time step.
    id_column: str = "sequence_id"
    # Orders the rows of a sequence (or of the series); used only when the column exists.
    time_column: str = "time"
    label_column: str = "label"
    # Optional column with values train/test that fixes the test split.
    split_column: str = "split"
    # Feature columns; None means every column not named above.
    features: tuple[str, ...] | None = None
    # Forecasting: the column(s) to predict (None only for built-in series).
    target: tuple[str, ...] | None = None
    # Forecasting: input steps per window (required), steps predicted, steps between windows.
    window: int | None = None
    # None: the source's own horizon (airline: 12), else 1.
    horizon: int | None = None
    stride: int = 1
    # NaN/inf in the data: error (say where), drop the sequences/rows, or fill (forward, then
    # backward, within each sequence; a channel with no value at all is still an error).
    missing: Missing = "error"
    # NPZ only: variable-length cases come as object arrays, which NumPy stores as pickles, and
    # unpickling can run code. Off unless the user trusts the file.
    allow_pickle: bool = False
    # The spec's folder: relative paths the data layer meets are taken from here.
    base_dir: str | None = None


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: Literal["min", "max"]


@dataclass(frozen=True)
class Resources:
    """What one trial reserves on a Ray node; fractions share a GPU between trials."""

    cpu: float = 1.0
    gpu: float = 0.0


@dataclass(frozen=True)
class SearchSettings:
    algorithm: Algorithm = "random"
    # asha stops poor trials early (Ray's ASHAScheduler with max_t = max_epochs).
    scheduler: Scheduler = "asha"
    # The default time budget, not max_trials, is what ends a default search.
    max_trials: int = 100
    # Convolutional branches on small data need many cheap epochs (the FCN papers train for
    # hundreds); patience ends a trial that stopped improving long before that.
    max_epochs: int = 100
    # Epochs without improvement of the objective before a trial stops; None: never early.
    patience: int | None = 20
    # Epochs every trial runs before asha/hyperband may stop it: at epoch 1 a model's
    # validation score on a small set says little about where it ends.
    grace_period: int = 10
    # Trials at once. Default min(2, max_trials): this package's quickstart target is 2 cores.
    concurrency: int = 2
    resources_per_trial: Resources = field(default_factory=Resources)
    objective: Objective = field(default_factory=lambda: Objective("val_loss", "min"))
    # Seeds the search algorithm, the data split and each trial's weights (seed 0 is a seed).
    seed: int = 0
    # Retries of one failed trial before it counts as failed.
    max_failures: int = 1
    # Failed trials in a row, before any trial has completed, that stop the whole search (a
    # broken setup). After one trial completed, failures no longer stop it (a bad region).
    max_consecutive_failures: int = 3
    # The registered model averages the predictions of at most `ensemble` completed trials
    # (1: the best trial alone). On small data the top trials tie on validation and differ on test.
    ensemble: int = 5
    # How they are chosen: "greedy" ensemble selection on held-out predictions (Caruana et al.
    # 2004, weighted), or the "top" trials by objective, averaged with equal weights; "auto"
    # (resolve_ensemble_selection): greedy for regression, top otherwise.
    ensemble_selection: str = "auto"
    # Train the registered trial(s) again on training + validation data for their best epoch
    # count before testing and registering them (AutoKeras' final fit). Not with k-fold
    # cross-validation: there the fold models together have trained on every case already.
    refit: bool = True
    # k-fold cross-validation of each trial's objective over training + validation; the trial's
    # model averages its k fold models. None ("auto"): 5 folds when the validation split would
    # hold fewer than 50 cases and the time budget affords 5 fold models per trial
    # (search.data.folds), else one holdout. 1: one holdout always. Forecasting: k rolling
    # origins in time order, and the refit (not the fold models) is registered.
    folds: int | None = None
    # Wall-clock minutes for the whole search, refit and registration included (2 CPU cores get
    # a competitive model in 10). The trials get it less the registration's reserve and what
    # the refit of the best trials so far is estimated to need, at most 20 % (search.budget;
    # running trials stop there and keep their best epoch); the refit trains only the chosen
    # trials that fit in what is left. None: no budget. It is the
    # search's: `--resume` gets what earlier sessions left (search.json keeps the count).
    time_budget_minutes: float | None = 10.0
    # Configurations (some parameters each; the rest drawn) trained before the algorithm
    # proposes any: `first_trials: auto` resolves to the task's defaults (search.spec.first_trials).
    first_trials: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class TrackingSettings:
    # Default sqlite:///<spec folder>/mlflow.db; relative sqlite paths are made absolute from the
    # spec's folder, because Ray trials run with another working directory.
    uri: str
    experiment: str
    registered_model: str
    # Artifact root for a new experiment: <spec folder>/mlartifacts for a local store (sqlite,
    # file), None for a server (it has its own).
    artifact_location: str | None = None
    # The keys the spec wrote; the others took their defaults. A default uri gives way to
    # --tracking-uri and $MLFLOW_TRACKING_URI (search.store), one the spec wrote only to the flag.
    given: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def is_local(self) -> bool:
        return self.uri.startswith(("sqlite:", "file:"))


@dataclass(frozen=True)
class RaySettings:
    # "local" starts Ray in this process (ray.init()); "auto" joins a running cluster on this
    # machine; "ray://HOST:10001" connects a client to a remote cluster; "HOST:PORT" a GCS.
    address: str = "local"
    # CPUs the local Ray may use (only with address local); None: all of this machine's.
    num_cpus: int | None = None


@dataclass(frozen=True)
class Spec:
    name: str
    data: DataSpec
    space: Space
    search: SearchSettings
    tracking: TrackingSettings
    ray: RaySettings
    # Default <spec folder>/results/<name>; always absolute.
    results_dir: str
    # The file it was read from and its text (logged with the search), when it came from a file.
    path: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class TrainingSettings:
    learning_rate: float = 1e-3
    batch_size: int = 64
    # "cosine": the rate decays to 0 over the search's max_epochs (search.trial).
    lr_schedule: str = "constant"


@dataclass(frozen=True)
class TrialConfig:
    """One trial's configuration, from the values a search algorithm proposed."""

    architecture: Architecture
    training: TrainingSettings

    def to_dict(self) -> dict:
        """Flat, with the spec's parameter names (`cell`, not `variant`): for tracking."""
        values = self.architecture.to_dict()
        values["cell"] = values.pop("variant")
        return {**values, **asdict(self.training)}
