"""Likely label errors in labelled data (`labeler audit`): out-of-sample probabilities from K
models of the default recipe, each trained without one fold of every class, and cleanlab's
confident learning over them (`cleanlab.filter.find_label_issues`), ranked by how little the
models believe the given label (self-confidence).

A fold model never saw the images it judges, so a wrong label cannot teach it to agree.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labeler.datasets import image_folder_files, load_dataset
from labeler.errors import LabelerError
from labeler.manifest import is_manifest, read_manifest, write_manifest
from labeler.metrics import softmax


@dataclass(frozen=True)
class Suspect:
    path: str
    given: str
    suggested: str
    quality: float  # the models' probability of the given label: low means likely wrong


def labelled_files(source: str) -> list[tuple[str, str]]:
    """(path, label) of every image of a manifest or an image folder (its train/ if any)."""
    if is_manifest(source):
        return read_manifest(source)
    folder = Path(source)
    if not folder.is_dir():
        raise LabelerError(f"nothing to audit at {source}: give an image folder or a manifest")
    folder = folder / "train" if (folder / "train").is_dir() else folder
    classes, files = image_folder_files(folder)
    return [(path, classes[label]) for path, label in files]


def fold_of(labels: list[str], folds: int, seed: int) -> np.ndarray:
    """Each image's fold, dealt round within each class in a seeded order, so every fold
    holds about 1/`folds` of every class."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    for label in sorted(set(labels)):
        members = rng.permutation([i for i, x in enumerate(labels) if x == label])
        if len(members) < folds:
            raise LabelerError(f"class {label!r} has {len(members)} images: each class needs "
                               f"at least {folds}, one for every fold (or fewer --folds)")
        fold[members] = np.arange(len(members)) % folds
    return fold


def out_of_sample_probabilities(files: list[tuple[str, str]], work: Path, *, folds: int = 3,
                                seed: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """The class names and, for every image, the calibrated probabilities of the fold model
    that did not train on it."""
    from labeler.training.train import TrainConfig, train

    labels = [label for _path, label in files]
    fold = fold_of(labels, folds, seed)
    classes = tuple(sorted(set(labels)))
    probabilities = np.zeros((len(files), len(classes)), np.float64)
    for k in range(folds):
        print(f"audit: fold {k + 1}/{folds}", flush=True)
        held = np.flatnonzero(fold == k)
        trained = work / f"fold{k}" / "train.csv"
        run = work / f"fold{k}" / "run"
        previous = trained.read_text() if trained.exists() else None
        write_manifest([(*files[i], "given") for i in np.flatnonzero(fold != k)], trained)
        if previous is not None and previous != trained.read_text():
            shutil.rmtree(run, ignore_errors=True)  # a fold of other data or other labels
        if not (run / "model.keras").is_file():
            train(TrainConfig(data=str(trained), seed=seed), run,
                  resume=(run / "state.json").exists(), explicit={"data", "seed"})
        judged = work / f"fold{k}" / "judged.csv"
        write_manifest([(*files[i], "given") for i in held], judged)
        probabilities[held] = _judge(run, judged, classes)
    return classes, probabilities


def _judge(run: Path, manifest: Path, classes: tuple[str, ...]) -> np.ndarray:
    """A fold model's calibrated probabilities for the images of `manifest`, in the audit's
    class order (its own covers every class: each fold holds every class)."""
    import keras

    from labeler.training.keras_reference import predict_logits

    model = keras.models.load_model(run / "model.keras", compile=False)
    own = tuple(json.loads((run / "classes.json").read_text()))
    # The mean of the image's and its mirror's logits, with the temperature fitted on that
    # mean: a steadier judge than one view (measured in docs/recipe-search.md, 2026-12-07).
    calibration = json.loads((run / "calibration.json").read_text())
    temperature = calibration["flip_average"]["temperature"]
    side = model.input_shape[1]
    images = load_dataset(str(manifest), "train", (side, side), own)
    expected = len(read_manifest(str(manifest)))
    if len(images) != expected:
        raise LabelerError(f"{expected - len(images)} of the images did not decode (named "
                           "above): remove them from the data and audit again")
    probabilities = softmax(predict_logits(model, images.pixels, flip_average=True), temperature)
    return probabilities[:, [own.index(name) for name in classes]]


def label_issues(files: list[tuple[str, str]], classes: tuple[str, ...],
                 probabilities: np.ndarray) -> list[Suspect]:
    """The images cleanlab flags, most likely wrong first."""
    from cleanlab.filter import find_label_issues

    given = np.array([classes.index(label) for _path, label in files])
    flagged = find_label_issues(given, probabilities, return_indices_ranked_by="self_confidence")
    return [Suspect(files[i][0], files[i][1], classes[int(probabilities[i].argmax())],
                    round(float(probabilities[i, given[i]]), 6)) for i in flagged]


def write_suspects(suspects: list[Suspect], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("rank", "path", "given", "suggested", "given_probability"))
        for rank, suspect in enumerate(suspects, 1):
            writer.writerow((rank, suspect.path, suspect.given, suspect.suggested,
                             suspect.quality))


def audit(source: str, out: Path, work: Path, *, folds: int = 3, seed: int = 0
          ) -> list[Suspect]:
    """Rank the images of `source` whose label is probably wrong; written to `out` as CSV.
    `work` keeps the fold runs, so an interrupted audit continues where it stopped."""
    files = labelled_files(source)
    if len(set(label for _path, label in files)) < 2:
        raise LabelerError(f"{source} has one class only: nothing to tell its labels apart from")
    classes, probabilities = out_of_sample_probabilities(files, work, folds=folds, seed=seed)
    suspects = label_issues(files, classes, probabilities)
    write_suspects(suspects, out)
    return suspects
