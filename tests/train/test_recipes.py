"""Named recipes: the stored config is the shipped model's, and a recipe's stages run in order
(teachers, then the model distilled from them) with the export following its advice."""

import json
from dataclasses import fields

import pytest

from labeler.errors import UsageError
from labeler.training.recipes import Recipe, load_recipe, recipe_names, train_recipe
from labeler.training.train import TrainConfig
from tests.conftest import REPO

# What a stage's own record may differ in: where it ran and from what files.
PLACES = {"data", "teachers", "image_size", "limit", "weights", "start_from"}


def _differences(stage: dict, saved: dict) -> dict:
    made = TrainConfig(**stage)
    default = TrainConfig(data="")
    return {f.name: (getattr(made, f.name), saved.get(f.name, getattr(default, f.name)))
            for f in fields(TrainConfig) if f.name not in PLACES
            and getattr(made, f.name) != saved.get(f.name, getattr(default, f.name))}


def test_the_shipped_recipe_is_the_config_each_of_its_models_was_trained_with():
    recipe = load_recipe("cifar10-whitened-kd")
    assert recipe_names() == ["cifar10-whitened-kd"]
    shipped = json.loads((REPO / "labeler/models/default/training/state.json").read_text())
    assert _differences(recipe.stage(recipe.student, "d"), shipped["config"]) == {}
    assert recipe.export == {"flip_below": 0.9}
    for name, stage in recipe.teachers.items():
        saved = json.loads((REPO / "docs/runs" / name / "state.json").read_text())["config"]
        assert _differences(recipe.stage(stage, "d"), saved) == {}, name
    assert len(recipe.teachers) == len(shipped["config"]["teachers"])


def test_an_unknown_recipe_names_the_ones_there_are():
    with pytest.raises(UsageError, match="cifar10-whitened-kd"):
        load_recipe("nope")


def test_a_recipe_trains_its_teachers_then_its_model_and_the_export_follows_it(
        tiny_dataset, tmp_path, monkeypatch):
    from labeler.export.bundle_export import export_bundle

    monkeypatch.setenv("LABELER_HOME", str(tmp_path / "home"))
    small = {"preset": "whitened", "epochs": 1, "batch_size": 16, "peak_lr": 0.01}
    recipe = Recipe("tiny", "a teacher and its student", {"teacher": small},
                    {**small, "teacher_weight": 0.5}, {"val_fraction": 0.25}, 32,
                    {"flip_below": 0.9})
    run = tmp_path / "run"
    summary = train_recipe(recipe, str(tiny_dataset), run)
    assert (run / "teachers" / "teacher" / "model.keras").is_file()
    state = json.loads((run / "state.json").read_text())
    assert state["config"]["teachers"] == [str(run / "teachers" / "teacher" / "model.keras")]
    assert summary["recipe"] == "tiny" and summary["export"] == {"flip_below": 0.9}
    with pytest.raises(UsageError, match="--resume"):
        train_recipe(recipe, str(tiny_dataset), run)
    meta = export_bundle(run / "model.keras", tmp_path / "bundle")
    assert (meta["test_time_augmentation"], meta["flip_below"]) == ("flip_when_unsure", 0.9)


def test_a_recipe_never_takes_over_another_run(tmp_path):
    recipe = load_recipe("cifar10-whitened-kd")
    other = tmp_path / "other"
    other.mkdir()
    (other / "state.json").write_text("{}")
    with pytest.raises(UsageError, match="--resume"):
        train_recipe(recipe, "d", other)
    with pytest.raises(UsageError, match="something other than recipe cifar10-whitened-kd"):
        train_recipe(recipe, "d", other, resume=True)
