"""The transfer recipe's mechanics, with a weights file made here (an untrained MobileNetV3Small
saved as Keras saves weights): the head trains on cached features, the top blocks fine-tune,
the bundle takes uint8 pixels and records its multiply-adds; and with no file and no way to
download ImageNet's, one line says what to do."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import cli_env, run_cli, write_image

SIDE = 64


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for split, count in (("train", 12), ("val", 4)):
        for c, colour in enumerate(("red", "green")):
            for i in range(count):
                path = write_image(root / split / colour / f"{i}.png", seed=c * 100 + i,
                                   size=(96, 80), fmt="PNG")
                from PIL import Image

                pixels = np.asarray(Image.open(path)).copy()
                pixels[..., c] = 255
                Image.fromarray(pixels).save(path)
    return root


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    import keras

    path = tmp_path_factory.mktemp("weights") / "mobilenet_v3_small_no_top.weights.h5"
    keras.applications.MobileNetV3Small(input_shape=(SIDE, SIDE, 3), include_top=False,
                                        pooling="avg", weights=None).save_weights(path)
    return path


def test_transfer_trains_the_head_then_the_top_blocks_and_exports(photos, weights_file,
                                                                   tmp_path):
    from labeler.bundle import load_bundle
    from labeler.engine import InferenceEngine
    from labeler.export.bundle_export import ExportOptions, export_bundle
    from labeler.training.train import TrainConfig, train

    run = tmp_path / "run"
    summary = train(TrainConfig(data=str(photos), preset="transfer", weights=str(weights_file),
                                image_size=SIDE, epochs=1, peak_lr=3e-4), run)
    assert summary["held_out"]["how"] == "val/ folder as given"
    assert summary["held_out"]["held_out_images"] == 8
    history = json.loads((run / "history.json").read_text())
    assert len(history["head_loss"]) >= 20 and len(history["loss"]) == 1
    assert 0 < summary["multiply_adds"] < 150e6
    # The user's weights below the top blocks, untouched; the top blocks, fine-tuned.
    import keras

    trained = keras.models.load_model(run / "model.keras").layers[1]
    given = keras.applications.MobileNetV3Small(input_shape=(SIDE, SIDE, 3), include_top=False,
                                                pooling="avg", weights=str(weights_file))
    for name, same in (("conv", True), ("expanded_conv_10_project", False)):
        ours, theirs = trained.get_layer(name).get_weights(), given.get_layer(name).get_weights()
        assert np.array_equal(ours[0], theirs[0]) == same, name

    bundle_dir = tmp_path / "bundle"
    meta = export_bundle(run / "model.keras", bundle_dir,
                         ExportOptions(precisions=("fp32", "int8"), optional=("int8",)))
    assert meta["multiply_adds_per_image"] == summary["multiply_adds"]
    assert "fp32" in meta["variants"]  # int8 ships only if it agrees; either way no failure
    engine = InferenceEngine(load_bundle(bundle_dir), "fp32", "cpu")
    image = np.zeros((1, SIDE, SIDE, 3), np.uint8)  # uint8 in: scaling is inside the graph
    probabilities = engine.run(image)
    assert probabilities.shape == (1, 2) and abs(float(probabilities.sum()) - 1) < 1e-5


def test_offline_without_a_weights_file_is_one_line_and_exit_2(photos, tmp_path):
    # A closed port as the proxy: the download fails here whether or not the machine is online.
    env = cli_env(tmp_path / "home", KERAS_HOME=str(tmp_path / "keras"),
                  https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    done = run_cli(["train", str(photos), "--preset", "transfer", "--out",
                    str(tmp_path / "run")], env, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: the transfer recipe needs ImageNet weights")
    assert "--weights FILE" in error and "Traceback" not in done.stderr
