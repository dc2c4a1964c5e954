"""Fine-tuning from a model bundle: its Keras model (kept under training/ in every exported
bundle) as the starting point, on a user's reviewed labels.

Labels among the bundle's classes keep its output layer (numbered in its order); any other
set of classes gets a fresh output layer of its own size on the trained features.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import keras

from labeler.bundle import ModelBundle, load_bundle
from labeler.errors import LabelerError
from labeler.manifest import is_manifest

HEAD = "logits"  # every preset names its output layer so


@dataclass(frozen=True)
class StartingPoint:
    bundle: ModelBundle
    keras_path: Path

    @property
    def preset(self) -> str | None:
        return self.bundle.metadata.get("training", {}).get("preset")

    def record(self) -> dict:
        """What the run's summary (and so the new bundle's training record) says it began
        from: the bundle's name and the id of the weights its labels carry."""
        variant = "fp32" if "fp32" in self.bundle.variants else next(iter(self.bundle.variants))
        return {"bundle": self.bundle.name, "path": str(self.bundle.path),
                "model_version": self.bundle.model_id(variant)}


def starting_point(bundle_path: str) -> StartingPoint:
    bundle = load_bundle(bundle_path)
    keras_path = bundle.path / "training" / bundle.metadata.get("source", {}).get(
        "keras", "model.keras")
    if not keras_path.is_file():
        raise LabelerError(f"bundle {bundle.path} carries no Keras model ({keras_path}): "
                           "fine-tuning starts from the model.keras an export keeps there")
    return StartingPoint(bundle, keras_path)


def classes_for(start: StartingPoint, data_classes: tuple[str, ...]) -> tuple[str, ...]:
    """The bundle's classes when the data's labels are among them, else the data's own."""
    if set(data_classes) <= set(start.bundle.classes):
        return start.bundle.classes
    return data_classes


def starting_model(start: StartingPoint, classes: tuple[str, ...]) -> keras.Model:
    model = keras.models.load_model(start.keras_path, compile=False)
    if classes == start.bundle.classes:
        return model
    print(f"new output layer for {len(classes)} classes (the bundle has "
          f"{len(start.bundle.classes)})", flush=True)

    def clone(layer):
        if layer.name != HEAD:
            return layer  # shared, so the trained weights come along
        config = layer.get_config()
        config["units"] = len(classes)
        return layer.__class__.from_config(config)

    try:
        model.get_layer(HEAD)
    except ValueError:
        raise LabelerError(f"{start.keras_path} has no layer named {HEAD!r} to replace for "
                           "new classes") from None
    return keras.models.clone_model(model, clone_function=clone)


def data_record(source: str) -> dict:
    """Names the training data; a manifest also by its SHA-256, so a bundle says exactly
    which reviewed labels it learnt from."""
    if not is_manifest(source):
        return {"data": source}
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    return {"data": str(Path(source).resolve()), "manifest_sha256": digest}
