"""`mlflow models serve` of a registered model answers with labels and class probabilities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.integration.services import free_port
from tests.search.packaged import CLASSES, package_classifier, padded_cases, register

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_served_model_answers_with_labels_and_probabilities(tmp_path):
    from search.tracking import Tracker

    model, model_dir = package_classifier(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    register(Tracker(uri), "pets", model_dir)
    port = free_port()
    # The server execs uvicorn from the venv's bin; the model's own code/ supplies `cells`.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "MLFLOW_TRACKING_URI": uri,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                "models:/pets/1",
                "--env-manager",
                "local",
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
            ],
            cwd=tmp_path,
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
                    assert server.poll() is None, log_path.read_text()[-2000:]
                    assert time.monotonic() < deadline, (
                        "the model server did not answer within 180 s"
                    )
                    time.sleep(1)
            x = padded_cases()  # float64 with NaN padding, sent as JSON numbers and NaN
            body = json.dumps({"inputs": x.tolist()}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
            )
            answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        finally:
            server.terminate()
            server.wait(timeout=30)
    expected = model.predict(x.astype("float32"), verbose=0)
    rows = answer["predictions"]
    assert [row["label"] for row in rows] == [CLASSES[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose(
        [[row[f"probability_{c}"] for c in CLASSES] for row in rows], expected, rtol=1e-5, atol=1e-6
    )
