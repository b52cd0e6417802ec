"""search.store: one rule for where the MLflow store is, and a store that must exist and answer."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from search import store
from search.cli import NOT_FOUND_EXIT, UNREACHABLE_EXIT, USER_ERROR_EXIT, main
from search.errors import NotFoundError, SpecError, TrackingError, TrackingUnreachable
from search.spec import parse_spec
from search.tracking import Tracker

SERVER = "http://mlflow.example:5000"


def _spec(folder, **tracking):
    return parse_spec(
        {"name": "s", "data": {"source": "aeon:GunPoint"}, "tracking": tracking}, folder
    )


def test_the_flag_then_the_spec_then_the_variable_then_mlflow_db_beside_the_spec(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    default, named = _spec(tmp_path / "specs"), _spec(tmp_path / "specs", uri=SERVER)
    assert (
        store.search_tracking(default.tracking, environ={}).uri
        == f"sqlite:///{tmp_path}/specs/mlflow.db"
    )
    assert default.tracking.artifact_location == str(tmp_path / "specs" / "mlartifacts")
    # The variable replaces the default (a relative path is from here, as MLflow reads it) ...
    env = {"MLFLOW_TRACKING_URI": "sqlite:///here.db"}
    replaced = store.search_tracking(default.tracking, environ=env)
    assert replaced.uri == f"sqlite:///{tmp_path}/here.db"
    # ... and the artifacts go beside that store (Tracker's default), not beside the spec.
    assert replaced.artifact_location is None
    # A uri the spec wrote beats the variable; the flag beats both.
    assert store.search_tracking(named.tracking, environ=env).uri == SERVER
    assert (
        store.search_tracking(named.tracking, override="sqlite:///flag.db", environ=env).uri
        == f"sqlite:///{tmp_path}/flag.db"
    )
    # Applied twice (the CLI, then search.run), the flag still wins over the variable.
    once = store.with_store(default, override="sqlite:///flag.db", environ={})
    assert store.with_store(once, environ=env).tracking.uri == f"sqlite:///{tmp_path}/flag.db"


def test_without_a_spec_the_flag_then_the_variable_then_mlflow_db_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert store.read_uri(environ={}) == f"sqlite:///{tmp_path}/mlflow.db"
    assert store.read_uri(environ={"MLFLOW_TRACKING_URI": SERVER}) == SERVER
    assert (
        store.read_uri(override="sqlite:///x.db", environ={"MLFLOW_TRACKING_URI": SERVER})
        == f"sqlite:///{tmp_path}/x.db"
    )
    assert (
        store.read_uri(_spec(tmp_path / "specs"), environ={})
        == f"sqlite:///{tmp_path}/specs/mlflow.db"
    )


def test_a_bad_uri_names_where_it_came_from():
    with pytest.raises(
        SpecError, match=r"^\$MLFLOW_TRACKING_URI must be sqlite:///PATH, .* but got 'ftp://x'\.$"
    ):
        store.read_uri(environ={"MLFLOW_TRACKING_URI": "ftp://x"})
    with pytest.raises(
        SpecError,
        match=r"^--tracking-uri must be sqlite:///PATH, http\(s\)://HOST:PORT, .* but got 'db'\.$",
    ):
        store.read_uri(override="db", environ={})


class _Client:
    def __init__(self, error=None):
        self.error = error

    def search_experiments(self, max_results):
        if self.error:
            raise self.error
        return []


def test_a_missing_store_is_not_found_and_not_created(tmp_path):
    uri = f"sqlite:///{tmp_path}/none.db"
    with pytest.raises(
        NotFoundError, match=f"^There is no MLflow store at {tmp_path}/none.db; run a search first"
    ):
        store.open_store(uri)
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(NotFoundError):
        store.open_store(f"file:{tmp_path}/mlruns")


def test_a_server_that_does_not_answer_is_unreachable_and_other_errors_are_not():
    down = ConnectionError(
        "Max retries exceeded with url: /api/2.0/mlflow/experiments/search (Connection refused)"
    )
    with pytest.raises(
        TrackingUnreachable, match=f"^The MLflow tracking store at {SERVER} does not answer"
    ):
        store.open_store(
            SERVER, tracker_factory=lambda uri: SimpleNamespace(uri=uri, client=_Client(down))
        )
    with pytest.raises(
        TrackingError, match=r"^Cannot read the MLflow store at .*\(ValueError: bad schema\)"
    ) as caught:
        store.open_store(
            SERVER,
            tracker_factory=lambda uri: SimpleNamespace(
                uri=uri, client=_Client(ValueError("bad schema"))
            ),
        )
    assert not isinstance(caught.value, TrackingUnreachable)


def test_a_real_server_that_is_not_there_exits_4(capsys):
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert (
        main(["trials", "--experiment", "x", "--tracking-uri", f"http://127.0.0.1:{port}"])
        == UNREACHABLE_EXIT
    )
    assert capsys.readouterr().err.startswith(
        f"error: The MLflow tracking store at http://127.0.0.1:{port} does not answer"
    )


def _captured_run(monkeypatch):
    """`gru-search run` with search.run replaced: what spec would the search get?"""
    got = []
    monkeypatch.setitem(
        sys.modules, "search.driver", SimpleNamespace(run=lambda spec, **kw: got.append(spec))
    )
    return got


def test_run_honours_the_flag_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "spec.yaml"
    path.write_text("name: s\ndata: {source: 'aeon:GunPoint'}\n")
    got = _captured_run(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", SERVER)
    assert main(["run", str(path)]) == 0
    assert main(["run", str(path), "--tracking-uri", "sqlite:///flag.db"]) == 0
    assert [spec.tracking.uri for spec in got] == [SERVER, f"sqlite:///{tmp_path}/flag.db"]
    assert main(["run", str(path), "--tracking-uri", "nowhere"]) == USER_ERROR_EXIT


def test_ui_refuses_a_store_that_does_not_exist(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["ui"]) == NOT_FOUND_EXIT
    assert f"There is no MLflow store at {tmp_path}/mlflow.db" in capsys.readouterr().err
    assert not (tmp_path / "mlflow.db").exists()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    folder = tmp_path_factory.mktemp("registry")
    tracker = Tracker(f"sqlite:///{folder}/mlflow.db")
    experiment = tracker.ensure_experiment("r")
    run = tracker.start_search(experiment, "s", {}, "{}")
    (folder / "model").mkdir()
    (folder / "model" / "model.keras").write_text("not a model")
    source = tracker.log_model(run, str(folder / "model"))
    for _ in range(3):
        tracker.register("quickstart", source, run, {})
    tracker.set_alias("quickstart", "champion", "2")
    return tracker


def test_pull_of_a_misspelt_model_names_the_close_one(registry, tmp_path, capsys):
    assert (
        main(["pull", "quikstart", "-o", str(tmp_path), "--tracking-uri", registry.uri])
        == NOT_FOUND_EXIT
    )
    assert capsys.readouterr().err == (
        f"error: There is no registered model 'quikstart' in {registry.uri}; "
        "did you mean `quickstart`?\n"
    )


def test_pull_of_a_missing_version_or_alias_lists_what_there_is(registry, tmp_path, capsys):
    assert (
        main(["pull", "quickstart/7", "-o", str(tmp_path), "--tracking-uri", registry.uri])
        == NOT_FOUND_EXIT
    )
    assert capsys.readouterr().err == (
        f"error: Model 'quickstart' has no version 7 in {registry.uri}; "
        "its versions are 1, 2, 3 (aliases: champion -> 2).\n"
    )
    assert (
        main(["pull", "quickstart@staging", "-o", str(tmp_path), "--tracking-uri", registry.uri])
        == NOT_FOUND_EXIT
    )
    assert "has no alias 'staging' in " in capsys.readouterr().err


def test_pull_needs_a_model_or_a_spec(tmp_path, registry, capsys):
    assert main(["pull", "-o", str(tmp_path), "--tracking-uri", registry.uri]) == USER_ERROR_EXIT
    assert (
        "Name the model to pull (NAME, NAME@ALIAS or NAME/VERSION), or pass --spec SPEC."
        in capsys.readouterr().err
    )


def test_the_summary_names_the_store_the_way_the_cli_finds_it_again(tmp_path, monkeypatch):
    from search.spec import load_spec
    from search.summary import _uri_option

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "s.yaml").write_text("name: s\ndata: {source: 'aeon:GunPoint'}\n")
    spec = load_spec(tmp_path / "specs" / "s.yaml")
    assert _uri_option(spec.tracking.uri, spec) == " --spec specs/s.yaml"
    assert _uri_option(f"sqlite:///{tmp_path}/mlflow.db", spec) == ""  # the CLI's default here
    assert _uri_option(SERVER, spec) == f" --tracking-uri {SERVER}"


def test_the_public_errors_include_not_found_and_unreachable():
    import search

    assert search.__all__ == [
        "ClusterError", "DataError", "GruSearchError", "NotFoundError", "SpecError",
        "TrackingError", "UnreachableError", "run", "SearchResult", "load_model",
    ]  # fmt: skip
    assert issubclass(search.NotFoundError, LookupError)
    assert issubclass(search.UnreachableError, ConnectionError)
    assert issubclass(TrackingUnreachable, search.UnreachableError)
    assert issubclass(TrackingUnreachable, TrackingError)
