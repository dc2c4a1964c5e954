"""Train -> export on a tiny generated dataset: the real Keras, tf2onnx and ORT code paths."""

import json

import numpy as np
import pytest

from labeler.bundle import load_bundle
from labeler.training.datasets import load_dataset
from tests.conftest import write_image


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    for split, count in (("train", 24), ("test", 6)):
        for c, colour in enumerate(("red", "green", "blue")):
            for i in range(count):
                path = write_image(root / split / colour / f"{i}.png", seed=c * 1000 + i)
                pixels = np.asarray(__import__("PIL.Image").Image.open(path)).copy()
                pixels[..., c] = 255  # a learnable signal
                __import__("PIL.Image").Image.fromarray(pixels).save(path)
    return root


@pytest.mark.parametrize("preset", ["baseline", "resnet"])
def test_train_resume_export_and_onnx_matches_keras(tiny_dataset, tmp_path, preset, monkeypatch):
    monkeypatch.setenv("LABELER_HOME", str(tmp_path / "home"))
    from labeler.export.bundle_export import export_bundle
    from labeler.export.onnx_export import keras_probabilities, load_keras_model
    from labeler.training.train import TrainConfig, train
    from labeler.worker.engine import InferenceEngine

    run = tmp_path / "run"
    config = TrainConfig(data=str(tiny_dataset), preset=preset, epochs=1, batch_size=16,
                         peak_lr=0.01, val_fraction=0.25)
    train(config, run)
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    config.epochs = 2
    summary = train(config, run, resume=True)
    state = json.loads((run / "state.json").read_text())
    assert state["epochs_done"] == 2 and len(state["history"]["loss"]) == 2
    assert summary["temperature"] > 0 and (run / "curves.png").stat().st_size > 0

    meta = export_bundle(run / "model.keras", tmp_path / "bundle",
                         eval_dir=tiny_dataset / "test")
    assert meta["classes"] == ["blue", "green", "red"]
    bundle = load_bundle(tmp_path / "bundle")
    test = load_dataset(str(tiny_dataset), "test")
    onnx = InferenceEngine(bundle, "fp32", "cpu").run(test.pixels)
    keras = keras_probabilities(load_keras_model(run / "model.keras"), test.pixels,
                                bundle.temperature)
    assert np.abs(onnx - keras).max() < 1e-4
    assert meta["metrics"]["fp32"]["images"] == 18


def test_training_refuses_to_overwrite_a_run_without_resume(tiny_dataset, tmp_path):
    from labeler.errors import LabelerError
    from labeler.training.train import TrainConfig, train

    run = tmp_path / "run"
    (run).mkdir()
    (run / "state.json").write_text("{}")
    with pytest.raises(LabelerError, match="--resume"):
        train(TrainConfig(data=str(tiny_dataset), preset="baseline", epochs=1), run)
