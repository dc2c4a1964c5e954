"""Pure logic of the training loop: the schedule and what a resume keeps."""

from dataclasses import asdict

import pytest

from labeler.errors import LabelerError
from labeler.training.train import (
    TrainConfig,
    _resumed_config,
    one_cycle_lr,
    remaining_line,
)


def test_one_cycle_warms_up_then_decays_to_zero():
    total, peak = 100, 0.2
    rates = [one_cycle_lr(step, total, peak, 0.2) for step in range(total + 1)]
    assert rates[0] == pytest.approx(0.1 * peak)
    assert max(rates) == pytest.approx(peak, rel=1e-3) and rates.index(max(rates)) == 20
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates[20:], rates[21:], strict=False))


def test_a_resume_keeps_the_runs_settings_and_warns_only_about_options_given(capsys):
    saved = asdict(TrainConfig(data="/old", preset="whitened", epochs=20, cutout=0,
                               label_smoothing=0.2))
    given = TrainConfig(data="/new", epochs=16, peak_lr=0.4)  # CLI defaults elsewhere
    config = _resumed_config(saved, given, explicit={"data", "epochs", "peak_lr"})
    assert (config.data, config.epochs) == ("/new", 16)
    assert (config.preset, config.cutout, config.label_smoothing, config.peak_lr) == (
        "whitened", 0, 0.2, 0.2)
    assert capsys.readouterr().out.strip().endswith("ignoring changed: peak_lr")
    _resumed_config(saved, TrainConfig(data="/new", epochs=16), explicit={"data", "epochs"})
    assert capsys.readouterr().out == ""


def test_a_resume_without_epochs_finishes_the_schedule_it_started():
    saved = asdict(TrainConfig(data="/old", preset="wrn16", epochs=60))
    given = TrainConfig(data="/old")  # --epochs left at the default
    assert _resumed_config(saved, given, explicit={"data"}).epochs == 60


def test_each_checkpoint_says_how_long_the_rest_of_the_run_takes():
    line = remaining_line(done=12, total=60, seconds_per_epoch=300)
    assert line.startswith("checkpoint 12/60: 5:00 an epoch, about 4:00:00 to go")
    assert "--resume" in line
    assert remaining_line(60, 60, 300) == "checkpoint 60/60: 5:00 an epoch, done"


def test_freed_training_memory_stays_in_the_heap_on_glibc():
    import platform

    from labeler.training.allocator import keep_freed_memory

    # CI and the workers run glibc Linux; elsewhere the call must be a harmless no-op.
    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_fine_tuning_a_bundle_of_a_preset_this_version_lacks_is_refused_at_once(tmp_path):
    import json
    import shutil

    from labeler.settings import DEFAULT_BUNDLE
    from labeler.training.train import train

    bundle = tmp_path / "old-bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["training"] = {**meta.get("training", {}), "preset": "resnet"}
    (bundle / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(LabelerError, match="unknown preset 'resnet'; this version trains"):
        train(TrainConfig(data="d", start_from=str(bundle)), tmp_path / "run")
