"""What a trial reports and what the driver keeps of it: one format, shared by search.trial (the
worker), search.tune and search.searcher (Ray's side), search.progress and search.driver.

Ray- and Keras-free, so each of them (and the tests' fake trainers) can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Key of the oracle's trial number inside each Tune config (shown in the table and MLflow).
TRIAL_NUMBER_KEY = "trial_number"
# Result keys of a trial's best epoch so far, reported with every epoch beside the Keras metrics
# (those go under their own names). BEST_EPOCH is NaN before one is known; 0 is the model's
# starting point (a least-squares AR start), which a refit keeps by training 0 epochs.
BEST_OBJECTIVE, BEST_TIEBREAK, BEST_EPOCH = "best_objective", "best_tiebreak", "best_epoch"
# Result key of a trial that failed on its own (NaN loss, out of memory, a bad configuration),
# with the reason: it ends with this instead of raising, so Ray retries only dead workers.
FAILED_KEY = "failed_reason"
# Beside it: the whole traceback, for the search log (the terminal shows only the reason).
FAILED_DETAILS_KEY = "failed_details"


@dataclass(frozen=True)
class TrialOutcome:
    """One finished trial as the driver sees it."""

    number: str
    values: dict
    status: str  # "COMPLETED", "FAILED", or "STOPPED" (by the time budget before its first epoch)
    objective: float | None
    tiebreak: float | None
    best_epoch: int | None
    epochs: int
    reason: str | None
    checkpoint: str | None  # path of the best epoch's model.keras
    # Per-epoch curves of the Keras metrics (loss, val_loss, the objective, ...), epoch 1 first.
    curves: dict
    # Seconds the trial trained (Tune's time_total_s); None when unknown. Sizes the refit.
    seconds: float | None = None
    # Seconds to its first trained epoch's report (building the model, its fitted start, tracing
    # the training step, one epoch): what a refit pays once. None when unknown.
    first_epoch_s: float | None = None
