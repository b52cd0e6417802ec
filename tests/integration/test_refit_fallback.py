"""A refit that fails on its Ray worker leaves its trial's own model in place and says why."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_failed_refit_keeps_the_trials_model_and_a_good_one_writes_its_file(tmp_path):
    import ray

    from search.refit import refit_members
    from search.tracking import Tracker
    from search.trial_result import TrialOutcome
    from tests.search.test_trial import _settings, _task

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker(uri)
    experiment = tracker.ensure_experiment("refits", str(tmp_path / "artifacts"))
    parent = tracker.start_search(experiment, "search", {}, "{}")
    settings = _settings(tracking_uri=uri, experiment_id=experiment, parent_run_id=parent)

    def member(number, units):
        return TrialOutcome(
            number,
            {"cell": "gru", "units": units, "batch_size": 16},
            "COMPLETED",
            1.0,
            0.1,
            2,
            2,
            None,
            f"/checkpoints/{number}/model.keras",
            {},
        )

    ray.shutdown()  # a search earlier in this process leaves its local Ray connected
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        refits = refit_members(
            [member("007", 8), member("008", -1)],
            _task(),
            settings,
            cpus=1,
            gpus=0,
            results_dir=str(tmp_path),
            max_retries=0,
        )
    finally:
        ray.shutdown()
    good, bad = refits
    assert (
        good.succeeded and good.epochs == 2 and good.model_file == str(tmp_path / "refit-007.keras")
    )
    assert (tmp_path / "refit-007.keras").stat().st_size > 0
    # The failed refit: the trial's own checkpoint stays the member, with the worker's reason.
    assert not bad.succeeded and bad.model_file == "/checkpoints/008/model.keras"
    assert "units" in bad.reason and "Traceback" not in bad.reason
    assert not (tmp_path / "refit-008.keras").exists()
    runs = {run.name: run for run in tracker.trials(experiment, parent)}
    assert runs["refit-007"].status == "FINISHED" and runs["refit-008"].status == "FAILED"
    assert "units" in runs["refit-008"].tags["status_reason"]
