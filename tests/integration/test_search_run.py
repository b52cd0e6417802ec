"""A real 4-trial search: local Ray, MLflow on SQLite in a temporary folder, the registry, pull, serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "unit-search"


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    import search
    from search.spec import parse_spec
    from tests.integration import failing_trainer

    folder = tmp_path_factory.mktemp("search")
    spec = parse_spec(
        {
            "name": NAME,
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": {
                "cell": ["gru", "minimal"],
                "units": [8, 16],
                "learning_rate": {"min": 3e-3, "max": 3e-2, "log": True},
            },
            "search": {
                "algorithm": "random",
                "scheduler": "fifo",
                "max_trials": 4,
                "max_epochs": 3,
                "concurrency": 2,
                "objective": {"metric": "val_accuracy", "mode": "max"},
                "max_failures": 0,
                "seed": 0,
                # The registered model averages the top two trials (ensemble_selection: auto
                # is top for classification), each refit on training + validation data: the
                # ensemble and refit paths end to end.
                "ensemble": 2,
                "refit": True,
                # One holdout: with folds (auto on data this small) there is no refit.
                "folds": 1,
            },
        },
        folder,
    )
    failing_trainer.register()
    result = search.run(spec, quiet=True, trainer=failing_trainer.train_with_one_failure)
    return spec, result, folder


def _client(spec):
    from mlflow import MlflowClient

    return MlflowClient(spec.tracking.uri, registry_uri=spec.tracking.uri)


def test_parent_run_holds_settings_plots_summary_and_model(searched):
    spec, result, _ = searched
    client = _client(spec)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["algorithm"] == "random" and parent.data.params["max_trials"] == "4"
    assert parent.data.metrics["test_accuracy"] == pytest.approx(result.test_metrics["accuracy"])
    assert "best_val_accuracy" in parent.data.metrics
    files = {f.path for f in client.list_artifacts(result.parent_run_id)}
    assert {
        "spec.json",
        "summary.json",
        "learning_curve.png",
        "objective_over_trials.png",
        "trials_parallel_coordinates.png",
        "confusion_matrix.png",
    } <= files
    # Per-class test metrics, and the data set on the run page (by the data's fingerprint).
    assert {"test_recall_1", "test_recall_2", "test_f1_1"} <= set(parent.data.metrics)
    (dataset,) = [entry.dataset for entry in parent.inputs.dataset_inputs]
    assert (
        dataset.name == "aeon:UnitTest"
        and dataset.digest == parent.data.tags["data_fingerprint"][:16]
    )
    # The model is an MLflow 3 logged model of the parent run, and the registered version's.
    (output,) = parent.outputs.model_outputs
    logged = client.get_logged_model(output.model_id)
    assert logged.source_run_id == result.parent_run_id
    model_files = {Path(f.path).name for f in client.list_logged_model_artifacts(logged.model_id)}
    assert "MLmodel" in model_files
    version = client.get_model_version(spec.tracking.registered_model, result.version)
    assert version.source == logged.artifact_location


def test_nested_trial_runs_with_metrics_statuses_and_the_failure_reason(searched):
    spec, result, _ = searched
    client = _client(spec)
    children = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"
    )
    by_number = {
        run.data.tags["trial_number"]: run for run in children if "trial_number" in run.data.tags
    }
    assert sorted(by_number) == ["0", "1", "2", "3"]
    failed = by_number["1"]
    assert failed.info.status == "FAILED"
    assert "units=-1" in failed.data.tags["status_reason"]
    for number in ("0", "2", "3"):
        run = by_number[number]
        assert run.info.status == "FINISHED"
        assert run.data.tags["cell"] in ("gru", "minimal")
        assert int(run.data.params["parameter_count"]) > 0
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [1, 2, 3]
    assert [o.status for o in result.trials] == ["COMPLETED", "FAILED", "COMPLETED", "COMPLETED"]
    assert "units=-1" in result.trials[1].reason


def test_each_trials_checkpoint_holds_its_validation_predictions(searched):
    """What greedy ensemble selection reads: saved by the Ray worker, kept by Tune's checkpoint."""
    from search.data import prepare
    from search.trial import HELD_OUT_FILE

    spec, result, _ = searched
    task = prepare(spec.data, spec.search.seed)
    for trial in result.trials:
        if trial.status == "COMPLETED":
            predictions = np.load(Path(trial.checkpoint).with_name(HELD_OUT_FILE))
            assert predictions.shape == (len(task.y_val), 2)
            np.testing.assert_allclose(predictions.sum(axis=1), 1.0, atol=1e-5)


def test_the_registered_trials_are_refit_for_their_best_epochs_in_nested_runs(searched):
    spec, result, _ = searched
    client = _client(spec)
    children = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"
    )
    refits = {run.data.tags["refit_of"]: run for run in children if "refit_of" in run.data.tags}
    assert sorted(refits) == sorted(result.ensemble_of) and result.refit_of == result.ensemble_of
    trials = {o.number: o for o in result.trials}
    for number, run in refits.items():
        assert (
            run.info.status == "FINISHED" and run.data.tags["mlflow.runName"] == f"refit-{number}"
        )
        epochs = trials[number].best_epoch
        assert int(run.data.params["epochs"]) == epochs and run.data.params["units"] == str(
            trials[number].values["units"]
        )
        assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == list(
            range(1, epochs + 1)
        )
    summary = json.loads((Path(result.results_dir) / "summary.json").read_text())
    # UnitTest: 20 training cases, of which the search held some out for validation.
    assert summary["refit"]["training_cases"] == 20 and summary["refit"]["failed"] == {}
    assert summary["refit"]["epochs"] == {n: trials[n].best_epoch for n in result.ensemble_of}
    # Where the time after the trials went, phase by phase, within the search's own time.
    phases = summary["registration_s"]
    assert list(phases) == ["loading", "testing", "logging", "packaging", "registering"]
    assert all(seconds >= 0 for seconds in phases.values())
    assert sum(phases.values()) <= summary["elapsed_s"]


def test_trial_runs_sort_by_their_best_epoch_and_the_parent_history_runs_forwards(searched):
    spec, result, _ = searched
    client = _client(spec)
    children = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"
    )
    runs = {
        run.data.tags["trial_number"]: run for run in children if "trial_number" in run.data.tags
    }
    for o in result.trials:
        if o.status == "COMPLETED":
            metrics = runs[o.number].data.metrics
            assert (metrics["best_val_accuracy"], metrics["best_epoch"]) == (
                pytest.approx(o.objective),
                o.best_epoch,
            )
            assert metrics["epoch"] == o.epochs
    history = client.get_metric_history(result.parent_run_id, "best_val_accuracy")
    by_step = sorted(history, key=lambda m: (m.step, m.timestamp))
    assert by_step[0].step >= 1 and by_step[-1].step == len(result.trials)
    values = [m.value for m in by_step]
    assert values == sorted(values) and values[-1] == pytest.approx(result.best.objective)
    parent = client.get_run(result.parent_run_id)
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(result.best.objective)
    assert parent.data.tags["champion"] == "true"


def test_registered_version_tags_and_champion_alias(searched):
    spec, result, _ = searched
    client = _client(spec)
    version = client.get_model_version_by_alias(spec.tracking.registered_model, "champion")
    assert result.model_uri == f"models:/{spec.tracking.registered_model}/{version.version}"
    assert result.champion
    assert version.tags["search_run_id"] == result.parent_run_id
    assert version.tags["objective"] == "val_accuracy"
    assert float(version.tags["objective_value"]) == pytest.approx(result.best.objective)
    assert len(version.tags["data_fingerprint"]) >= 16
    # What a user of the version needs, on its page: classes, input layout, output columns.
    assert "classes (probability columns in this order): 1, 2" in version.description
    assert "a time step whose features are all NaN is padding" in version.description


def test_pulled_model_reproduces_the_test_metric_in_a_fresh_process(searched, tmp_path):
    spec, result, _ = searched
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = tmp_path / "pulled"
    cli = Path(sys.executable).with_name("gru-search")
    subprocess.run(
        [
            str(cli),
            "pull",
            f"{spec.tracking.registered_model}@champion",
            "-o",
            str(out),
            "--tracking-uri",
            spec.tracking.uri,
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["classes"] == ["1", "2"] and metadata["test_metrics"] == result.test_metrics
    assert len(metadata["ensemble_of"]) == 2 and metadata["ensemble_of"][0] == result.best.number
    assert list(result.ensemble_of) == metadata["ensemble_of"]
    assert metadata["ensemble_weights"] == [0.5, 0.5]
    assert metadata["refit"]["epochs"] == {
        n: o.best_epoch for o in result.trials for n in result.ensemble_of if o.number == n
    }
    script = (
        "import json, sys\n"
        "import search\n"
        "from search.data import prepare\n"
        "from search.data.metrics import evaluate\n"
        "from search.spec import parse_spec\n"
        "spec = parse_spec(json.loads(sys.argv[1]), sys.argv[2])\n"
        "task = prepare(spec.data, spec.search.seed)\n"
        "print(json.dumps({'file': evaluate(search.load_model(sys.argv[3]), task)['accuracy'],\n"
        f"                  'registry': evaluate(search.load_model('models:/{spec.tracking.registered_model}@champion', tracking_uri=sys.argv[4]), task)['accuracy']}}))\n"
    )
    data = json.dumps({"name": NAME, "data": {"source": "aeon:UnitTest", "task": "classification"}})
    done = subprocess.run(
        [sys.executable, "-c", script, data, str(tmp_path), str(out), spec.tracking.uri],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    accuracies = json.loads(done.stdout.strip().splitlines()[-1])
    assert accuracies["file"] == pytest.approx(result.test_metrics["accuracy"], abs=1e-9)
    assert accuracies["registry"] == pytest.approx(result.test_metrics["accuracy"], abs=1e-9)


def test_mlflow_models_serve_answers_with_the_same_predictions(searched, tmp_path):
    import search
    from search.data import prepare

    spec, result, _ = searched
    task = prepare(spec.data, spec.search.seed)
    expected = search.load_model(result.model_uri, tracking_uri=spec.tracking.uri).predict(
        task.x_test, verbose=0
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "MLFLOW_TRACKING_URI": spec.tracking.uri,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            f"models:/{spec.tracking.registered_model}@champion",
            "--env-manager",
            "local",
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the model server did not answer within 180 s"
                time.sleep(1)
        body = json.dumps({"inputs": task.x_test.tolist()}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    # Rows of the label and one probability per class (cells.serving), not bare columns.
    rows = answer["predictions"]
    probabilities = [[row[f"probability_{c}"] for c in ("1", "2")] for row in rows]
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
    assert [row["label"] for row in rows] == [("1", "2")[i] for i in expected.argmax(axis=1)]


def test_a_time_budget_stops_the_trials_and_a_resume_spends_no_more_of_it(tmp_path, monkeypatch):
    import search
    from search import summary
    from search.budget import reserve_s
    from search.spec import parse_spec

    spec = parse_spec(
        {
            "name": "budget",
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": {"cell": ["gru", "mgu"], "units": [8, 16]},
            # Trials of up to 2000 epochs with no early stopping: only the budget can end them.
            # One holdout: five fold models each compiling would spend the 30 s before any epoch.
            "search": {
                "max_trials": 50,
                "max_epochs": 2000,
                "patience": None,
                "scheduler": "fifo",
                "concurrency": 2,
                "time_budget_minutes": 0.5,
                "refit": False,
                "ensemble": 1,
                "folds": 1,
            },
        },
        tmp_path,
    )
    # Registration fails once (a tracking server that went down, say) after the budget is spent.
    with monkeypatch.context() as patch:
        patch.setattr(
            summary, "finish", lambda *args: (_ for _ in ()).throw(ConnectionError("server down"))
        )
        with pytest.raises(ConnectionError):
            search.run(spec, quiet=True)
    first = json.loads((Path(spec.results_dir) / "search.json").read_text())
    # The trials had the budget less what it keeps for the registration (search.budget), and
    # Tune ends a trial only at its next report, which comes within seconds here.
    trials_budget_s = 30 - reserve_s(spec.search, folds=1)
    assert trials_budget_s <= first["trial_seconds"] < trials_budget_s + 30
    # The budget is the search's: the resumed session starts no trial and goes on to register.
    result = search.run(spec, quiet=True, resume=True)
    assert (
        json.loads((Path(spec.results_dir) / "search.json").read_text())["trial_seconds"]
        == first["trial_seconds"]
    )
    assert not list(Path(spec.results_dir).glob("ray-1"))  # no second Tune experiment
    assert "time budget of 0.5 minutes" in result.stopped_reason
    assert len(result.trials) < 50 and all(o.epochs < 2000 for o in result.trials)
    assert result.best.status == "COMPLETED" and result.model_uri is not None
    # A trial the budget ended before its first epoch is STOPPED, not FAILED.
    assert all(o.status in ("COMPLETED", "STOPPED") for o in result.trials)
    client = _client(spec)
    runs = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"
    )
    # Tune ended the trials at the budget: their runs are closed, none is left RUNNING or KILLED.
    assert runs and all(run.info.status == "FINISHED" for run in runs)
    # The oracle's record (what --resume reads) holds them as completed too, so none runs again.
    records = [
        json.loads(path.read_text())
        for path in Path(result.results_dir).glob("oracle-*/trial_*/trial.json")
    ]
    oracle_status = {record["trial_id"]: record["status"] for record in records}
    assert {
        o.number: oracle_status[o.number] for o in result.trials if o.status == "COMPLETED"
    } == {o.number: "COMPLETED" for o in result.trials if o.status == "COMPLETED"}


def test_quick_trials_run_on_into_the_refit_share_that_their_refit_will_not_need(
    tmp_path, monkeypatch
):
    import re

    import search
    from search import budget
    from search.spec import parse_spec

    # A refit worker's start-up taken as 2 s (10 by default, 15 where a first epoch is not
    # timed), so that the estimate for these few-second trials sits well inside the 18 s share
    # of a 1.5-minute budget (by default it would be about that share).
    monkeypatch.setattr(budget, "REFIT_WORKER_S", 2.0)
    monkeypatch.setattr(budget, "REFIT_OVERHEAD_S", 2.0)
    spec = parse_spec(
        {
            "name": "share",
            "data": {"source": "aeon:UnitTest", "task": "classification"},
            "space": {"cell": ["gru", "mgu"], "units": [8, 16], "dropout": {"min": 0, "max": 0.5}},
            "search": {
                "max_trials": 1000,
                "max_epochs": 2,
                "scheduler": "fifo",
                "concurrency": 2,
                "time_budget_minutes": 1.5,
                "refit": True,
                "ensemble": 1,
                "folds": 1,
            },
        },
        tmp_path,
    )
    result = search.run(spec, quiet=True)
    log = (Path(spec.results_dir) / "search.log").read_text()
    stopped = re.search(
        r"trials stopped after (\d+) s of the 1.5-minute budget: (\d+) s of the (\d+) s share "
        r"kept for the refit \(the best trials' refit estimated at (\d+) s\), (\d+) s for the "
        r"registration",
        log,
    )
    assert stopped, log
    after, kept, share, estimate, registration = map(int, stopped.groups())
    assert share == 18 and kept == estimate < share
    # The trials ended where the estimate left them, later than a fixed share would have.
    assert after == pytest.approx(90 - registration - kept, abs=2)
    assert after > 90 - registration - share
    trial_seconds = json.loads((Path(spec.results_dir) / "search.json").read_text())[
        "trial_seconds"
    ]
    assert after <= trial_seconds < after + 10  # running trials end at their next report
    # The refit it kept time for ran, and the whole search kept to its budget.
    assert result.refit_of == result.ensemble_of
    assert result.elapsed_s <= 90 + 10


def test_trials_command_lists_the_trials_then_the_refits(searched):
    spec, result, _ = searched
    cli = Path(sys.executable).with_name("gru-search")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [
            str(cli),
            "trials",
            "--experiment",
            spec.tracking.experiment,
            "--tracking-uri",
            spec.tracking.uri,
            "--sort",
            "trial",
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    rows = [
        line.split() for line in done.stdout.splitlines()[2:]
    ]  # a title, a header, then the runs
    names = [row[0] for row in rows]
    assert names == ["0", "1", "2", "3", *sorted(f"refit-{n}" for n in result.ensemble_of)]
    statuses = dict(zip(names, (row[1] for row in rows), strict=True))
    assert statuses["1"] == "FAILED" and statuses["0"] == "FINISHED"
    assert "units=-1" in done.stdout  # the failed trial's reason
    # As JSON: the completed trials best first, each with its best epoch's value.
    listed = subprocess.run(
        [
            str(cli),
            "trials",
            "--experiment",
            spec.tracking.experiment,
            "--tracking-uri",
            spec.tracking.uri,
            "--format",
            "json",
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    trials = [
        t
        for t in json.loads(listed.stdout)["trials"]
        if t["kind"] == "trial" and t["objective"] is not None
    ]
    expected = sorted(
        (o for o in result.trials if o.status == "COMPLETED"),
        key=lambda o: (-o.objective, o.tiebreak, int(o.number)),
    )
    assert [str(t["trial"]) for t in trials] == [o.number for o in expected]
    assert [t["objective"] for t in trials] == [pytest.approx(o.objective) for o in expected]
