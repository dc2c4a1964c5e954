"""Train -> export on a tiny generated dataset: the real Keras, tf2onnx and ORT code paths."""

import json
import re

import numpy as np
import pytest

from labeler.bundle import load_bundle
from labeler.datasets import load_dataset

# The whitened runs also carry the options whose state must survive the resume: the optimizer
# with a scaled bias learning rate, and bfloat16 compute (with SAM, whose checkpoint is its own
# model class).
WHITENED_EXTRAS = {"bias_lr_scale": 64.0, "translate": 2}


@pytest.mark.parametrize("preset, extras", [
    ("whitened", WHITENED_EXTRAS),
    ("whitened", {**WHITENED_EXTRAS, "mixed_precision": True, "sam": 0.05}), ("wrn16", {}),
], ids=["whitened", "whitened-bf16", "wrn16"])
def test_train_resume_export_and_onnx_matches_keras(tiny_dataset, tmp_path, preset, extras,
                                                    monkeypatch):
    monkeypatch.setenv("LABELER_HOME", str(tmp_path / "home"))
    import keras as keras_lib

    from labeler.engine import InferenceEngine
    from labeler.export.bundle_export import ExportOptions, export_bundle
    from labeler.export.onnx_export import keras_probabilities, load_keras_model
    from labeler.serving import Serving
    from labeler.training.train import TrainConfig, train

    run = tmp_path / "run"
    config = TrainConfig(data=str(tiny_dataset), preset=preset, epochs=1, batch_size=16,
                         peak_lr=0.01, val_fraction=0.25, **extras)
    train(config, run)
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    config.epochs = 2
    summary = train(config, run, resume=True)
    state = json.loads((run / "state.json").read_text())
    assert state["epochs_done"] == 2 and len(state["history"]["loss"]) == 2
    assert summary["temperature"] > 0 and (run / "curves.png").stat().st_size > 0
    # A mixed-precision run checkpoints in bfloat16 but saves (and exports) float32, and
    # leaves the process's policy as it found it.
    policies = {name: {layer.dtype_policy.name for layer in keras_lib.models.load_model(
        run / name, compile=False).layers} for name in ("last.keras", "model.keras")}
    assert ("mixed_bfloat16" in policies["last.keras"]) is config.mixed_precision
    assert policies["model.keras"] == {"float32"}
    assert keras_lib.mixed_precision.dtype_policy().name == "float32"

    meta = export_bundle(run / "model.keras", tmp_path / "bundle",
                         ExportOptions(eval_dir=tiny_dataset / "test"))
    assert meta["classes"] == ["blue", "green", "red"]
    bundle = load_bundle(tmp_path / "bundle")
    test = load_dataset(str(tiny_dataset), "test")
    onnx = InferenceEngine(bundle, "fp32", "cpu").run(test.pixels)
    keras = keras_probabilities(load_keras_model(run / "model.keras"), test.pixels,
                                Serving(bundle.temperature))
    assert np.abs(onnx - keras).max() < 1e-4
    assert meta["metrics"]["fp32"]["images"] == 18


def test_training_refuses_to_overwrite_a_run_without_resume(tiny_dataset, tmp_path):
    from labeler.errors import LabelerError
    from labeler.training.train import TrainConfig, train

    run = tmp_path / "run"
    (run).mkdir()
    (run / "state.json").write_text("{}")
    with pytest.raises(LabelerError, match="--resume"):
        train(TrainConfig(data=str(tiny_dataset), preset="whitened", epochs=1), run)


def test_the_train_command_holds_out_a_tenth_and_reports_progress(tiny_dataset,
                                                                            tmp_path):
    from tests.conftest import cli_env, run_cli

    run = tmp_path / "run"
    proc = run_cli(["train", str(tiny_dataset), "--epochs", "2", "--batch-size", "16",
                    "--out", str(run)], cli_env(tmp_path / "home"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    trained, held = map(int, re.search(r"on (\d+) images \((\d+) held out\)", proc.stdout).groups())
    assert trained + held == 72 and 0 < held < 18  # a tenth of each class, as runs
    assert "checkpoint 1/2: " in proc.stdout and "to go" in proc.stdout
    assert "checkpoint 2/2: " in proc.stdout
    state = json.loads((run / "state.json").read_text())
    assert state["config"]["val_fraction"] == 0.1
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["epochs"] == 2 and len(state["history"]["epoch_seconds"]) == 2
    assert summary["train_seconds_all_epochs"] == round(sum(state["history"]["epoch_seconds"]), 1)


@pytest.fixture(scope="module")
def trained_run(tiny_dataset, tmp_path_factory):
    import os

    from labeler.training.train import TrainConfig, train

    os.environ.setdefault("LABELER_HOME", str(tmp_path_factory.mktemp("home")))
    run = tmp_path_factory.mktemp("run")
    train(TrainConfig(data=str(tiny_dataset), preset="whitened", epochs=3, batch_size=16,
                      peak_lr=0.02, val_fraction=0.25), run, resume=True)
    return run


def test_export_all_precisions_records_checks_in_bundle_and_graph(trained_run, tmp_path):
    import onnx

    from labeler.export.bundle_export import ExportOptions, export_bundle
    from labeler.export.variants import QuantizationConfig

    options = ExportOptions(precisions=("fp32", "fp16", "int8"),
                            quantization=QuantizationConfig(size=32),
                            floors={"fp16": 0.9, "int8": 0.5})
    meta = export_bundle(trained_run / "model.keras", tmp_path / "b", options)
    assert set(meta["variants"]) == {"fp32", "fp16", "int8"}
    int8 = meta["variants"]["int8"]["checks"]
    assert int8["nodes"]["QuantizeLinear"] >= 3  # every Conv's input is quantised
    assert int8["quantization"]["format"] == "QDQ" and int8["quantization"]["per_channel"]
    for precision in ("fp16", "int8"):
        checks = meta["variants"][precision]["checks"]
        assert 0 <= checks["top1_agreement"] <= 1 and checks["cpu_images_per_second_batch64"] > 0
    bundle = load_bundle(tmp_path / "b")
    for precision in ("fp32", "fp16", "int8"):
        model = onnx.load(str(bundle.variant_path(precision)))
        onnx.checker.check_model(model)
        props = {p.key: p.value for p in model.metadata_props}
        assert json.loads(props["labeler.classes"]) == ["blue", "green", "red"]
        assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
        assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert "| int8 |" in (tmp_path / "b" / "export-report.md").read_text()


def test_a_variant_below_its_floor_is_not_shipped_and_the_export_fails(trained_run, tmp_path):
    from labeler.export.bundle_export import ExportCheckError, ExportOptions, export_bundle
    from labeler.export.variants import QuantizationConfig

    options = ExportOptions(precisions=("fp32", "int8"), floors={"int8": 1.01},
                            quantization=QuantizationConfig(size=32))
    with pytest.raises(ExportCheckError, match="int8 top-1 agreement"):
        export_bundle(trained_run / "model.keras", tmp_path / "b", options)
    assert not (tmp_path / "b" / "model.int8.onnx").exists()
    assert set(load_bundle(tmp_path / "b").variants) == {"fp32"}


def test_mirror_averaged_exports_match_keras_for_every_image_or_the_unsure_ones(trained_run,
                                                                                tmp_path):
    import shutil

    from labeler.engine import InferenceEngine
    from labeler.errors import LabelerError
    from labeler.export.bundle_export import ExportOptions, export_bundle
    from labeler.export.onnx_export import keras_probabilities, load_keras_model
    from labeler.export.variants import QuantizationConfig
    from labeler.serving import Serving

    # At the run's own temperature, fitted on 18 held-out images it gets all right, every
    # confidence is 1: at temperature 1 there is something to compare.
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    for name in ("calibration.json", "summary.json"):
        record = json.loads((run / name).read_text())
        record["temperature"] = record["flip_average"]["temperature"] = 1.0
        (run / name).write_text(json.dumps(record))
    calibration = json.loads((run / "calibration.json").read_text())
    fitted_run, trained_run = trained_run, run
    options = ExportOptions(precisions=("fp32", "int8"), flip_average=True,
                            quantization=QuantizationConfig(size=32), floors={"int8": 0.5})
    meta = export_bundle(trained_run / "model.keras", tmp_path / "flip", options)
    assert meta["test_time_augmentation"] == "flip_average"
    assert meta["temperature"] == calibration["flip_average"]["temperature"]
    assert meta["multiply_adds_per_image"] == 2 * meta["training"]["multiply_adds"]

    plain = export_bundle(trained_run / "model.keras", tmp_path / "plain", ExportOptions())
    assert plain["test_time_augmentation"] == "none"
    assert plain["temperature"] == calibration["temperature"]

    # Smooth random images (4x4 blocks of 8x8 pixels), nearer to photos than pixel noise.
    blocks = np.random.default_rng(3).integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    pixels = blocks.repeat(8, axis=1).repeat(8, axis=2)
    mirrored = pixels[:, :, ::-1].copy()
    flip = InferenceEngine(load_bundle(tmp_path / "flip"), "fp32", "cpu")
    once = InferenceEngine(load_bundle(tmp_path / "plain"), "fp32", "cpu")
    assert np.abs(flip.run(pixels) - flip.run(mirrored)).max() < 1e-5
    assert np.abs(once.run(pixels) - once.run(mirrored)).max() > 1e-3  # not trivially symmetric
    keras = keras_probabilities(load_keras_model(trained_run / "model.keras"), pixels,
                                Serving.from_metadata(meta))
    assert np.abs(flip.run(pixels) - keras).max() < 1e-4

    # Only the images the plain graph is unsure of get the mirror average: the threshold falls
    # between two of these images' plain confidences, so some rows take each path.
    confidence = np.sort(once.run(pixels).max(axis=1))
    below = float(confidence[8:10].mean())
    options = ExportOptions(precisions=("fp32", "fp16", "int8"), flip_below=below,
                            quantization=QuantizationConfig(size=32),
                            floors={"fp16": 0.5, "int8": 0.5})
    gated = export_bundle(trained_run / "model.keras", tmp_path / "gated", options)
    assert gated["test_time_augmentation"] == "flip_when_unsure"
    assert (gated["temperature"], gated["flip_temperature"], gated["flip_below"]) == (
        calibration["temperature"], calibration["flip_average"]["temperature"], below)
    assert gated["multiply_adds_per_image"] == 2 * gated["training"]["multiply_adds"]
    assert 0 <= gated["mirrored_share_of_checked_images"] <= 1
    assert set(gated["variants"]) == {"fp32", "fp16", "int8"}
    import onnx

    from labeler.export.float_ends import quantised_probability_nodes

    for precision in ("fp16", "int8"):
        checks = gated["variants"][precision]["checks"]
        # Recorded for every variant: how far it is from Keras, and its own calibration.
        assert 0 <= checks["median_abs_diff"] <= checks["max_abs_diff"]
        fp32_share = gated["variants"]["fp32"]["checks"]["confidences_on_8bit_grid"]
        assert 0 <= checks["ece"] <= 1
        assert checks["confidences_on_8bit_grid"] <= fp32_share + 0.01  # the export's own rule
        graph = onnx.load(str(load_bundle(tmp_path / "gated").variant_path(precision))).graph
        assert quantised_probability_nodes(graph) == []
        softmaxes = [n for n in graph.node if n.op_type == "Softmax"]
        assert len(softmaxes) == 2
        if precision == "fp16":  # the logits layers' weights stay float32, the convs' halve
            weights = {t.name: t.data_type for t in graph.initializer}
            for node in graph.node:
                kinds = {weights[i] for i in node.input if i in weights}
                if node.op_type == "MatMul":
                    assert kinds == {onnx.TensorProto.FLOAT}
                elif node.op_type == "Conv":
                    assert kinds == {onnx.TensorProto.FLOAT16}
    unsure = once.run(pixels).max(axis=1) < below
    assert unsure.sum() == 9
    served = InferenceEngine(load_bundle(tmp_path / "gated"), "fp32", "cpu").run(pixels)
    np.testing.assert_allclose(served[~unsure], once.run(pixels)[~unsure], atol=1e-6)
    np.testing.assert_allclose(served[unsure], flip.run(pixels)[unsure], atol=1e-6)
    with pytest.raises(LabelerError, match="choose one of"):
        export_bundle(trained_run / "model.keras", tmp_path / "both",
                      ExportOptions(flip_average=True, flip_below=0.9))

    # A run trained before flip averages were recorded: the temperature is fitted at export.
    older = tmp_path / "older"
    shutil.copytree(fitted_run, older)
    recorded = json.loads((older / "calibration.json").read_text())
    fitted = recorded.pop("flip_average")["temperature"]
    (older / "calibration.json").write_text(json.dumps(recorded))
    refitted = export_bundle(older / "model.keras", tmp_path / "refit",
                             ExportOptions(flip_average=True))
    assert refitted["temperature"] == pytest.approx(fitted, rel=1e-6)


def test_a_student_distils_from_a_teacher_and_resumes_without_it(trained_run, tiny_dataset,
                                                                 tmp_path):
    import shutil

    from labeler.errors import LabelerError
    from labeler.training.train import TrainConfig, train

    stranger = tmp_path / "other-data" / "model.keras"  # same shape, other classes
    stranger.parent.mkdir()
    shutil.copy(trained_run / "model.keras", stranger)
    (stranger.parent / "classes.json").write_text('["cat", "dog", "frog"]')
    config = TrainConfig(data=str(tiny_dataset), preset="whitened", epochs=1, batch_size=16,
                         peak_lr=0.01, val_fraction=0.25, teachers=[str(stranger)])
    with pytest.raises(LabelerError, match="other classes"):
        train(config, tmp_path / "misled")

    teacher = tmp_path / "teacher" / "model.keras"
    shutil.copytree(trained_run, teacher.parent)  # with its state.json: seed 0, 25 % held out
    config.teachers, config.seed = [str(teacher)], 1
    with pytest.raises(LabelerError, match="another validation split"):
        train(config, tmp_path / "leaky")

    run = tmp_path / "student"
    config.seed = 0
    train(config, run)
    probabilities = np.load(run / "teacher.npy")
    assert probabilities.shape == (2, 54, 3)  # both views of the 54 training images
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    teacher.unlink()  # the run keeps what it needs: moving the teacher must not stop a resume
    config.epochs = 2
    summary = train(config, run, resume=True)
    assert summary["epochs"] == 2
    assert json.loads((run / "state.json").read_text())["config"]["teachers"] == [str(teacher)]


def test_a_student_trains_on_teacher_judged_views_and_resumes_without_the_teacher(
        trained_run, tiny_dataset, tmp_path):
    import shutil

    from labeler.errors import LabelerError
    from labeler.training.train import TrainConfig, train
    from labeler.training.views import draw_views

    config = TrainConfig(data=str(tiny_dataset), preset="whitened", epochs=1, batch_size=16,
                         peak_lr=0.01, val_fraction=0.25, teacher_views=3)
    with pytest.raises(LabelerError, match="needs --teacher"):
        train(config, tmp_path / "alone")
    teacher = tmp_path / "teacher" / "model.keras"
    shutil.copytree(trained_run, teacher.parent)
    config.teachers = [str(teacher)]
    run = tmp_path / "student"
    train(config, run)
    probabilities = np.load(run / "teacher-views.npy")
    assert probabilities.shape == (3, 54, 3)  # three views of the 54 training images
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    assert not (run / "teacher.npy").exists()
    # The cached beliefs are about these views: the teacher's own calibrated judgement of the
    # first ones, its logits divided by the temperature fitted on its validation split.
    import keras

    from labeler.metrics import softmax
    from labeler.splits import held_out_split

    train_set = held_out_split(str(tiny_dataset), (32, 32), 0.25, 0).train
    views = draw_views(train_set.pixels, 3, seed=0, pad=config.max_shift, cutout=config.cutout)
    model = keras.models.load_model(teacher, compile=False)
    temperature = json.loads((teacher.parent / "calibration.json").read_text())["temperature"]
    assert temperature != pytest.approx(1.0, abs=0.01)  # else the check below proves nothing
    np.testing.assert_allclose(
        probabilities[0],
        softmax(model.predict(views[0].astype(np.float32), verbose=0) / temperature),
        atol=1e-5)
    (teacher.parent / "calibration.json").unlink()
    with pytest.raises(LabelerError, match="no calibration.json"):
        train(config, tmp_path / "uncalibrated")
    teacher.unlink()
    config.epochs = 2
    assert train(config, run, resume=True)["epochs"] == 2


def test_a_student_distils_online_from_teacher_bundles(trained_run, tiny_dataset, tmp_path):
    import shutil

    from labeler.errors import LabelerError
    from labeler.export.bundle_export import export_bundle
    from labeler.training.train import TrainConfig, train

    bundle = tmp_path / "teacher-bundle"
    export_bundle(trained_run / "model.keras", bundle)
    # The bundle carries the run's config, so the student can check the split it held out.
    assert json.loads((bundle / "training" / "state.json").read_text())["config"]["seed"] == 0
    config = TrainConfig(data=str(tiny_dataset), preset="whitened", epochs=1, batch_size=16,
                         peak_lr=0.01, val_fraction=0.25, seed=1, teachers=[str(bundle)])
    with pytest.raises(LabelerError, match="another validation split"):
        train(config, tmp_path / "leaky")
    config.seed = 0
    config.teachers = [str(bundle), str(trained_run / "model.keras")]
    with pytest.raises(LabelerError, match="not a mix"):
        train(config, tmp_path / "mixed")
    stranger = tmp_path / "stranger"
    shutil.copytree(bundle, stranger)
    meta = json.loads((stranger / "bundle.json").read_text())
    (stranger / "bundle.json").write_text(json.dumps({**meta, "classes": ["a", "b", "c"]}))
    config.teachers = [str(stranger)]
    with pytest.raises(LabelerError, match="other classes"):
        train(config, tmp_path / "misled")

    run = tmp_path / "student"
    config.teachers = [str(bundle), str(bundle)]
    summary = train(config, run)
    assert summary["epochs"] == 1 and not (run / "teacher.npy").exists()  # nothing precomputed
    assert json.loads((run / "state.json").read_text())["config"]["teachers"] == [str(bundle)] * 2
