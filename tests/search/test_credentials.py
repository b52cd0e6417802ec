"""search.credentials: the tracking server's account from variables or secret files."""

from __future__ import annotations

import pytest

from search import credentials
from search.errors import TrackingError


def test_a_file_fills_the_variable_mlflow_reads(tmp_path):
    (tmp_path / "password").write_text("s3cret\n")
    environ = {"MLFLOW_TRACKING_PASSWORD_FILE": str(tmp_path / "password")}
    credentials.load_from_files(environ)
    assert environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret"  # the newline a file ends with goes


def test_a_variable_set_directly_wins_over_its_file(tmp_path):
    environ = {
        "MLFLOW_TRACKING_PASSWORD": "direct",
        "MLFLOW_TRACKING_PASSWORD_FILE": str(tmp_path / "not-read"),
    }
    credentials.load_from_files(environ)
    assert environ["MLFLOW_TRACKING_PASSWORD"] == "direct"


def test_a_missing_or_empty_file_is_one_sentence_naming_the_variable(tmp_path):
    with pytest.raises(TrackingError, match=r"^MLFLOW_TRACKING_USERNAME_FILE names .*cannot be read \(No such file or directory\); point it at the secret file or set MLFLOW_TRACKING_USERNAME instead\.$"):  # fmt: skip
        credentials.load_from_files({"MLFLOW_TRACKING_USERNAME_FILE": str(tmp_path / "none")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TrackingError, match=r"which is empty; write the secret into it \(`make secrets` writes fresh ones\) or set MLFLOW_TRACKING_PASSWORD instead\.$"):  # fmt: skip
        credentials.load_from_files({"MLFLOW_TRACKING_PASSWORD_FILE": str(tmp_path / "empty")})


def test_a_refusal_is_told_from_other_errors():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import (
        PERMISSION_DENIED,
        RESOURCE_DOES_NOT_EXIST,
        UNAUTHENTICATED,
    )

    assert credentials.refused(MlflowException("x", error_code=UNAUTHENTICATED))
    assert credentials.refused(MlflowException("x", error_code=PERMISSION_DENIED))
    assert credentials.refused(RuntimeError("API request failed with status code 401 != 200"))
    assert not credentials.refused(
        MlflowException("no such run", error_code=RESOURCE_DOES_NOT_EXIST)
    )
    assert not credentials.refused(ConnectionError("connection refused"))


def test_the_refusal_says_whether_credentials_were_sent_and_what_to_set():
    without = credentials.refusal_message("http://h:5000", {})
    sent = credentials.refusal_message(
        "http://h:5000", {"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "Zq9-secret"}
    )
    assert without.startswith("The MLflow tracking server at http://h:5000 needs credentials ")
    assert sent.startswith("The MLflow tracking server at http://h:5000 refused the credentials ")
    for message in (without, sent):
        assert "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or " in message
    assert "Zq9-secret" not in sent  # never the password
