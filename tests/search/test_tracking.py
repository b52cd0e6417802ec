"""search.tracking against a real MLflow store on SQLite in a temporary folder (no server, no Ray)."""

from __future__ import annotations

import pytest

from search.tracking import PARENT_TAG, STOPPED_BY_TAG, Tracker, local_artifact_root, resolve_uri


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    return Tracker(f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db")


def test_relative_sqlite_uri_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path}/mlflow.db"
    assert resolve_uri("http://mlflow:5000") == "http://mlflow:5000"
    assert (
        local_artifact_root(f"sqlite:///{tmp_path}/mlflow.db")
        == (tmp_path / "mlartifacts").as_uri()
    )


def test_trials_nest_under_their_search(tracker):
    experiment = tracker.ensure_experiment("nesting")
    assert tracker.ensure_experiment("nesting") == experiment
    parent = tracker.start_search(experiment, "s-1", {"algorithm": "random"}, '{"name": "s"}')
    ok = tracker.start_trial(experiment, parent, "0", {"units": 8, "cell": "gru"})
    bad = tracker.start_trial(experiment, parent, "1", {"units": 16})
    dangling = tracker.start_trial(experiment, parent, "2", {"units": 32})
    for epoch in (1, 2, 3):
        tracker.log_metrics(ok, {"val_loss": 1.0 / epoch}, step=epoch)
    tracker.end_run(ok, "FINISHED")
    tracker.end_run(bad, "FAILED", reason="the training loss became nan at epoch 2.")
    tracker.close_running_children(experiment, parent, "worker died")

    rows = {row.tags["trial_number"]: row for row in tracker.trials(experiment, parent)}
    assert sorted(rows) == ["0", "1", "2"]
    assert all(row.tags[PARENT_TAG] == parent for row in rows.values())
    assert (rows["0"].status, rows["1"].status, rows["2"].status) == (
        "FINISHED",
        "FAILED",
        "KILLED",
    )
    assert rows["1"].tags["status_reason"] == "the training loss became nan at epoch 2."
    assert rows["2"].tags["status_reason"] == "worker died"
    assert rows["0"].params == {"units": "8", "cell": "gru"}
    history = tracker.client.get_metric_history(ok, "val_loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    assert [s.run_id for s in tracker.searches(experiment)] == [parent]
    assert dangling in {row.run_id for row in rows.values()}


def test_an_experiment_another_search_creates_meanwhile_is_used(tracker, monkeypatch):
    other = Tracker(tracker.uri)
    look_up = tracker.client.get_experiment_by_name

    def look_up_then_lose_the_race(name):
        found = look_up(name)
        if found is None:
            other.ensure_experiment(name)  # the other search creates it right after this one looked
        return found

    monkeypatch.setattr(tracker.client, "get_experiment_by_name", look_up_then_lose_the_race)
    experiment = tracker.ensure_experiment("raced")
    assert experiment == other.experiment_id("raced")


def test_a_lock_released_while_the_store_words_its_error_is_taken_again(tracker, monkeypatch):
    # MLflow's create_registered_model, on a taken name, looks the holder up to word its error; a
    # holder that releases in between turns "already exists" into "not found" (seen in CI with 8
    # searches promoting at once on a PostgreSQL-backed server).
    holder, key = Tracker(tracker.uri), "raced.champion-lock"
    store = tracker.client._get_registry_client().store
    look_up = store.get_registered_model
    released = []

    def release_first(name):
        if name == key and not released:
            released.append(name)  # first: the store's delete looks the name up too
            holder._release(key)
        return look_up(name)

    with holder.exclusive(key):
        monkeypatch.setattr(store, "get_registered_model", release_first)
        with tracker.exclusive(key):
            assert released  # the race happened, and this process holds the lock after it
            assert tracker.client.get_registered_model(key).name == key
    assert not tracker.client.search_registered_models(f"name = '{key}'")


def test_registry_versions_and_aliases(tracker, tmp_path):
    experiment = tracker.ensure_experiment("registry")
    run = tracker.start_search(experiment, "s", {}, "{}")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "file.txt").write_text("x")
    source = tracker.log_model(run, str(tmp_path / "model"))
    assert tracker.version_by_alias("reg-model", "champion") is None
    v1 = tracker.register("reg-model", source, run, {"objective": "val_loss"})
    v2 = tracker.register("reg-model", source, run, {})
    assert (v1, v2) == ("1", "2")
    tracker.set_alias("reg-model", "champion", v2)
    assert str(tracker.version_by_alias("reg-model", "champion").version) == "2"
    assert tracker.version("reg-model", "1").tags["objective"] == "val_loss"
    folder = tracker.download_version("reg-model", "1", str(tmp_path / "down"))
    assert (folder / "file.txt").read_text() == "x"

    # An MLflow 3 LoggedModel of the run: the experiment's Models tab lists it, the run and
    # the versions link to it.
    (logged,) = tracker.client.search_logged_models([experiment])
    assert source == f"models:/{logged.model_id}" and logged.source_run_id == run
    assert (logged.name, str(logged.status)) == ("model", "READY")
    outputs = tracker.client.get_run(run).outputs.model_outputs
    assert [o.model_id for o in outputs] == [logged.model_id]
    assert tracker.version("reg-model", "2").source == logged.artifact_location


def test_a_trial_the_scheduler_stopped_is_killed_with_a_tag_and_stays_so(tracker):
    experiment = tracker.ensure_experiment("early-stops")
    parent = tracker.start_search(experiment, "s", {}, "{}")
    stopped = tracker.start_trial(experiment, parent, "4", {"units": 8})
    ran_out = tracker.start_trial(experiment, parent, "5", {"units": 8})
    tracker.stop_trial_early(
        experiment, parent, "4", "stopped early by the ASHA scheduler at epoch 3 of 20"
    )
    # The trial's worker ends its runs after the driver: a closed run keeps the driver's status.
    tracker.end_run_if_running(stopped, "FINISHED")
    tracker.end_run_if_running(ran_out, "FINISHED")
    rows = {row.tags["trial_number"]: row for row in tracker.trials(experiment, parent)}
    assert (rows["4"].status, rows["5"].status) == ("KILLED", "FINISHED")
    assert rows["4"].tags[STOPPED_BY_TAG] == "scheduler" and STOPPED_BY_TAG not in rows["5"].tags
    assert rows["4"].tags["status_reason"] == "stopped early by the ASHA scheduler at epoch 3 of 20"


def test_trials_come_back_in_numeric_order(tracker):
    experiment = tracker.ensure_experiment("order")
    parent = tracker.start_search(experiment, "s", {}, "{}")
    for number in ("10", "2", "1", "0", "11"):
        tracker.start_trial(experiment, parent, number, {})
    assert [row.tags["trial_number"] for row in tracker.trials(experiment, parent)] == [
        "0",
        "1",
        "2",
        "10",
        "11",
    ]


def test_a_data_set_another_search_inserts_meanwhile_is_linked(tracker, monkeypatch):
    # Two searches of the same data, started together, both find no row for it; the one that
    # inserts second breaks the unique key (seen in CI, two searches on one SQLite-backed server).
    from mlflow.exceptions import MlflowException

    experiment = tracker.ensure_experiment("datasets")
    run = tracker.start_search(experiment, "s-1", {}, "{}")
    log_inputs, raced = tracker.client.log_inputs, []

    def lose_the_race_once(run_id, datasets):
        if not raced:
            raced.append(run_id)
            raise MlflowException(
                "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
                "datasets.name, datasets.digest"
            )
        return log_inputs(run_id, datasets=datasets)

    monkeypatch.setattr(tracker.client, "log_inputs", lose_the_race_once)
    tracker.log_dataset(run, "aeon:UnitTest", "49215ff3", {"source": "aeon:UnitTest"}, {}, "train")
    assert raced == [run]
    [entry] = tracker.client.get_run(run).inputs.dataset_inputs
    assert (entry.dataset.name, entry.dataset.digest) == ("aeon:UnitTest", "49215ff3")


def test_a_unique_key_conflict_elsewhere_is_not_retried(tracker, monkeypatch):
    from mlflow.exceptions import MlflowException

    calls = []

    def conflict():
        calls.append(1)
        raise MlflowException("UNIQUE constraint failed: registered_models.name")

    with pytest.raises(MlflowException):
        tracker._retry(conflict)
    assert len(calls) == 1


def test_the_search_run_names_its_spec_its_git_commit_and_describes_itself(tracker, tmp_path):
    import subprocess

    project = tmp_path / "project"
    project.mkdir()
    spec = project / "spec.yaml"
    spec.write_text("name: s\n")
    git = ["git", "-C", str(project), "-c", "user.name=u", "-c", "user.email=u@x"]
    subprocess.run([*git, "init", "-q", "-b", "trunk"], check=True)
    subprocess.run([*git, "add", "spec.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "spec"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    experiment = tracker.ensure_experiment("context")

    run = tracker.start_search(
        experiment, "s-1", {}, "{}", description="what ran", spec_path=str(spec)
    )
    tags = tracker.client.get_run(run).data.tags
    assert tags["mlflow.source.name"] == str(spec)
    assert tags["mlflow.source.git.commit"] == commit.strip()
    assert tags["mlflow.source.git.branch"] == "trunk"
    assert tags["mlflow.note.content"] == "what ran"
    assert tags["mlflow.user"] and tags["mlflow.source.type"] == "LOCAL"
    # Outside a git work tree: no git tags at all (not this tool's own repository's).
    loose = tmp_path / "loose.yaml"
    loose.write_text("name: s\n")
    run = tracker.start_search(experiment, "s-2", {}, "{}", spec_path=str(loose))
    tags = tracker.client.get_run(run).data.tags
    assert tags["mlflow.source.name"] == str(loose)
    assert not any(key.startswith("mlflow.source.git") for key in tags)
    assert "mlflow.note.content" not in tags
