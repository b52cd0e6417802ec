"""`gru-search pull --format keras|savedmodel|onnx`, and `gru-search predict MODEL DATA`: new
data in the training layout in, the served model's columns out, as CSV or Parquet."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from search.cli import USER_ERROR_EXIT, main
from tests.search.packaged import (
    CLASSES,
    FEATURES,
    classifier_metadata,
    package_classifier,
    padded_cases,
    register,
)

pytestmark = pytest.mark.slow
PROBABILITIES = [f"probability_{c}" for c in CLASSES]


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    from search.tracking import Tracker

    folder = tmp_path_factory.mktemp("registry")
    model, model_dir = package_classifier(folder)
    uri = f"sqlite:///{folder}/mlflow.db"
    register(Tracker(uri), "pets", model_dir)
    return model, uri


def test_pull_writes_the_keras_file_with_the_code_it_needs(registered, tmp_path):
    _, uri = registered
    assert main(["pull", "pets/1", "-o", str(tmp_path), "--tracking-uri", uri]) == 0
    assert (tmp_path / "model.keras").is_file() and (
        tmp_path / "code" / "cells" / "builder.py"
    ).is_file()
    assert json.loads((tmp_path / "metadata.json").read_text())["classes"] == CLASSES


def test_pull_format_savedmodel_writes_the_logged_savedmodel(registered, tmp_path):
    import tensorflow as tf

    model, uri = registered
    assert (
        main(
            ["pull", "pets/1", "-o", str(tmp_path), "--format", "savedmodel", "--tracking-uri", uri]
        )
        == 0
    )
    assert not (tmp_path / "model.keras").exists()
    x = padded_cases().astype("float32")
    served = tf.saved_model.load(str(tmp_path / "savedmodel"))
    np.testing.assert_array_equal(served.serve(tf.constant(x)).numpy(), model.predict(x, verbose=0))


@pytest.mark.skipif(importlib.util.find_spec("tf2onnx") is not None, reason="tf2onnx is installed")
def test_pull_format_onnx_without_tf2onnx_says_what_to_install(registered, tmp_path, capsys):
    _, uri = registered
    out = tmp_path / "pulled"
    assert (
        main(["pull", "pets/1", "-o", str(out), "--format", "onnx", "--tracking-uri", uri])
        == USER_ERROR_EXIT
    )
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: ONNX export needs the tf2onnx package; install it (pip install tf2onnx) or pull "
        "--format keras or savedmodel."
    )
    assert not out.exists()  # the failed pull left no empty folder


def _expected(model, x):
    probabilities = model.predict(x.astype("float32"), verbose=0)
    return probabilities, [CLASSES[i] for i in probabilities.argmax(axis=1)]


def test_predict_an_npz_with_a_pulled_folder_writes_labels_and_probabilities(registered, tmp_path):
    model, uri = registered
    main(["pull", "pets/1", "-o", str(tmp_path / "pulled"), "--tracking-uri", uri])
    x = padded_cases()
    x_trailing = x.copy()  # the training reader re-aligns padding at either end, so must predict
    x_trailing[0] = np.concatenate([x[0, 3:], x[0, :3]])
    np.savez(tmp_path / "new.npz", x=x_trailing)
    assert (
        main(
            [
                "predict",
                str(tmp_path / "pulled"),
                str(tmp_path / "new.npz"),
                "-o",
                str(tmp_path / "out.csv"),
            ]
        )
        == 0
    )
    frame = pd.read_csv(tmp_path / "out.csv")
    probabilities, labels = _expected(model, x)
    assert list(frame.columns) == ["case", "label", *PROBABILITIES]
    assert frame["case"].tolist() == list(range(len(x))) and frame["label"].tolist() == labels
    np.testing.assert_allclose(frame[PROBABILITIES].to_numpy(), probabilities, rtol=1e-6)


def test_predict_a_long_table_with_a_registered_model_writes_parquet(registered, tmp_path):
    model, uri = registered
    x = padded_cases()
    rows = [
        {
            "sequence_id": f"s{case}",
            "time": step,
            **dict(zip(FEATURES, x[case, step], strict=True)),
            "label": "ignored",
        }
        for case in range(len(x))
        for step in range(x.shape[1])
        if not np.isnan(x[case, step]).all()
    ]
    pd.DataFrame(rows[::-1]).to_csv(tmp_path / "new.csv", index=False)  # rows in any order
    out = tmp_path / "out.parquet"
    assert (
        main(
            ["predict", "pets/1", str(tmp_path / "new.csv"), "-o", str(out), "--tracking-uri", uri]
        )
        == 0
    )
    frame = pd.read_parquet(out)
    probabilities, labels = _expected(model, x)
    order = np.argsort(frame["sequence_id"].to_numpy())
    assert sorted(frame["sequence_id"]) == [f"s{c}" for c in range(len(x))]
    assert frame["label"].to_numpy()[order].tolist() == labels
    np.testing.assert_allclose(frame[PROBABILITIES].to_numpy()[order], probabilities, rtol=1e-6)


def test_predict_refuses_data_with_other_features_in_one_sentence(registered, tmp_path, capsys):
    _, uri = registered
    main(["pull", "pets/1", "-o", str(tmp_path / "pulled"), "--tracking-uri", uri])
    np.savez(tmp_path / "new.npz", x=np.zeros((2, 4, 5)))
    assert main(["predict", str(tmp_path / "pulled"), str(tmp_path / "new.npz")]) == USER_ERROR_EXIT
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: new.npz has 5 features per step, but the model takes 3; give the training features."
    )
    assert (
        main(["predict", str(tmp_path / "pulled"), str(tmp_path / "new.npz"), "-o", "out.txt"])
        == USER_ERROR_EXIT
    )


def test_predict_a_forecast_from_the_last_window_of_a_table(tmp_path):
    import keras

    from cells.architecture import Architecture, Head
    from cells.builder import build_model

    keras.utils.set_random_seed(0)
    model = build_model(
        Architecture(units=4),
        (6, 2),
        Head("forecasting", 1, horizon=2, target_mean=(1.0,), target_std=(2.0,)),
    )
    folder = tmp_path / "pulled"
    folder.mkdir()
    model.save(folder / "model.keras")
    metadata = classifier_metadata() | {
        "task": "forecasting",
        "classes": None,
        "feature_names": ["sales", "price"],
        "input_shape": [6, 2],
        "targets": ["sales"],
        "horizon": 2,
    }
    (folder / "metadata.json").write_text(json.dumps(metadata))
    series = np.random.default_rng(1).normal(size=(10, 2))
    pd.DataFrame({"time": range(10), "price": series[:, 1], "sales": series[:, 0]}).to_csv(
        tmp_path / "s.csv", index=False
    )
    assert (
        main(["predict", str(folder), str(tmp_path / "s.csv"), "-o", str(tmp_path / "f.csv")]) == 0
    )
    frame = pd.read_csv(tmp_path / "f.csv")
    expected = model.predict(series[None, -6:].astype("float32"), verbose=0).reshape(2, 1)
    assert list(frame.columns) == ["step", "sales"] and frame["step"].tolist() == [1, 2]
    np.testing.assert_allclose(frame[["sales"]].to_numpy(), expected, rtol=1e-6)


def test_served_columns_name_the_targets_and_steps_ahead():
    from cells.serving import output_columns, to_frame

    assert output_columns({"task": "regression", "targets": ["price"]}) == ["price"]
    forecast = {"task": "forecasting", "targets": ["a", "b"], "horizon": 2}
    assert output_columns(forecast) == ["a_step1", "b_step1", "a_step2", "b_step2"]
    frame = to_frame(np.arange(8.0).reshape(2, 2, 2), forecast)
    assert frame.loc[1].tolist() == [4.0, 5.0, 6.0, 7.0]
