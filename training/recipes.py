"""Named recipes: one stored config (training/recipes/NAME.json) per shipped model, from which
`labeler train DATA --recipe NAME` makes it again.

A recipe trains its teachers first, each in RUN/teachers/NAME (a finished one is kept, an
unfinished one resumed), then the model itself in RUN, distilled from them; every stage on the
same held-out split. What the export should do with the result (a second look below a
confidence) goes into the run's summary, where `labeler export` reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from labeler.errors import UsageError

# Where recipes lie in the installed package; read without importing TensorFlow.
RECIPE_FOLDER = "recipes"


def recipe_names() -> list[str]:
    folder = resources.files("labeler.training") / RECIPE_FOLDER
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir()
                  if p.name.endswith(".json"))


@dataclass(frozen=True)
class Recipe:
    name: str
    about: str
    teachers: dict[str, dict]
    student: dict
    shared: dict
    image_size: int
    export: dict

    def stage(self, fields: dict, data: str, **more) -> dict:
        """The TrainConfig fields of one stage on `data`."""
        return {**self.shared, **fields, "data": data, "image_size": self.image_size, **more}


def load_recipe(name: str) -> Recipe:
    path = resources.files("labeler.training") / RECIPE_FOLDER / f"{name}.json"
    if not path.is_file():
        raise UsageError(f"no recipe named {name!r}; there are: {', '.join(recipe_names())}")
    stored = json.loads(path.read_text())
    return Recipe(name, stored["about"], stored.get("teachers", {}), stored["student"],
                  stored.get("shared", {}), int(stored["image_size"]), stored.get("export", {}))


def train_recipe(recipe: Recipe, data: str, run_dir: Path, *, resume: bool = False) -> dict:
    """Train every stage of `recipe` on `data` into `run_dir`; the model's run summary."""
    from labeler.training.train import TrainConfig, train

    _check_run_folder(run_dir, recipe, resume=resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.json").write_text(json.dumps({"recipe": recipe.name, "data": data}))
    teachers = _train_teachers(recipe, data, run_dir)
    print(f"recipe {recipe.name}: the model itself", flush=True)
    config = TrainConfig(**recipe.stage(recipe.student, data, teachers=teachers))
    summary = train(config, run_dir, resume=(run_dir / "state.json").exists())
    summary = {**summary, "recipe": recipe.name, "export": recipe.export}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _check_run_folder(run_dir: Path, recipe: Recipe, *, resume: bool) -> None:
    """A run folder is this recipe's to continue with --resume, or a new one; never another
    run's."""
    record, state = run_dir / "recipe.json", run_dir / "state.json"
    if (record.exists() or state.exists()) and not resume:
        raise UsageError(f"{run_dir} already holds a run; pass --resume to continue it or "
                         "choose another --out")
    if resume and state.exists() and (
            not record.exists() or json.loads(record.read_text())["recipe"] != recipe.name):
        raise UsageError(f"{run_dir} holds a run of something other than recipe "
                         f"{recipe.name}: choose another --out")


def _train_teachers(recipe: Recipe, data: str, run_dir: Path) -> list[str]:
    """Each teacher in RUN/teachers/NAME: a finished one kept, an unfinished one resumed."""
    from labeler.training.train import TrainConfig, train

    models = []
    for number, (name, fields) in enumerate(recipe.teachers.items(), 1):
        stage_dir = run_dir / "teachers" / name
        model = stage_dir / "model.keras"
        models.append(str(model))
        done = " is trained already" if model.exists() else ""
        print(f"recipe {recipe.name}: teacher {number}/{len(recipe.teachers)} ({name}){done}",
              flush=True)
        if not done:
            train(TrainConfig(**recipe.stage(fields, data)), stage_dir,
                  resume=(stage_dir / "state.json").exists())
    return models
