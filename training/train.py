"""The training loop: presets, one-cycle schedule, per-epoch checkpoints and explicit resume.

A run lives in one folder:
    last.keras      the latest checkpoint (model + optimizer state), written every epoch
    state.json      the config, epochs done and the history so far
    model.keras     the final model
    calibration.json  the softmax temperature fitted on the validation split, ECE before/after,
                      and the same for the flip average (image and mirror image)
    history.json, curves.png
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import keras
import numpy as np

from labeler.datasets import LabelledImages, load_dataset
from labeler.durations import format_seconds
from labeler.errors import LabelerError
from labeler.splits import Split, held_out_split
from labeler.training import transfer
from labeler.training.allocator import KeepFreedMemory
from labeler.training.augment import AugmentedBatches
from labeler.training.calibration import honest_calibration
from labeler.training.distill import check_teachers_split, make_teach
from labeler.training.feed import AdvanceEpoch, without_autotune
from labeler.training.fine_tune import (
    StartingPoint,
    classes_for,
    data_record,
    starting_model,
    starting_point,
)
from labeler.training.keras_reference import predict_logits
from labeler.training.macs import count_macs
from labeler.training.models import PRESETS, init_identity, init_whitening
from labeler.training.optimizers import BiasScaledSGD
from labeler.training.recipe import fit_batch, fit_recipe, fitted_side, larger_pixels
from labeler.training.sam import sharpness_aware
from labeler.training.views import teacher_views


@dataclass
class TrainConfig:
    """A run's settings; the defaults are `labeler train`'s, which `fit_recipe` fits to the
    data (training/recipe.py)."""

    data: str
    preset: str = "whitened"
    epochs: int = 15
    batch_size: int = 64
    peak_lr: float = 0.2
    warmup_fraction: float = 0.2
    label_smoothing: float = 0.1
    val_fraction: float = 0.1  # held out to validate and to fit the temperature on
    seed: int = 0
    cutout: int = 0
    cutmix: float = 0.0  # share of batches given CutMix
    translate: int | None = None  # largest random shift in pixels; default: a side / 8
    bias_lr_scale: float = 1.0  # learning-rate multiplier for BatchNorm biases
    sam: float = 0.0  # radius of sharpness-aware minimisation's weight perturbation; 0: off
    mixed_precision: bool = False  # compute in bfloat16, keep the weights in float32
    teachers: list[str] = field(default_factory=list)  # .keras models or bundles
    teacher_weight: float = 0.7  # share of each target taken from the teachers
    teacher_views: int = 0  # views per image judged by the teachers before training; 0: none
    weights: str | None = None  # ImageNet weights file for the transfer preset
    image_size: int | None = None  # default: fitted to the images, or 224 for transfer
    limit: int | None = None  # use only this many training images (smoke tests)
    crop_area: float = 0.0  # random-resized crops of at least this share of a photo; 0: shifts
    start_from: str | None = None  # a bundle whose Keras model is fine-tuned instead

    @property
    def max_shift(self) -> int:
        return self.input_size[0] // 8 if self.translate is None else self.translate

    @property
    def input_size(self) -> tuple[int, int]:
        size = self.image_size or (TRANSFER_SIDE if self.preset == "transfer" else 32)
        return size, size


TRANSFER_SIDE = transfer.SIDE


def one_cycle_lr(step: int, total_steps: int, peak: float, warmup_fraction: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to zero, as a pure function of the step."""
    warmup = max(1, int(total_steps * warmup_fraction))
    if step < warmup:
        return peak * (0.1 + 0.9 * step / warmup)
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class OneCycle(keras.callbacks.Callback):
    def __init__(self, steps_per_epoch: int, config: TrainConfig) -> None:
        super().__init__()
        self.steps_per_epoch, self.config = steps_per_epoch, config
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch
        total = self.config.epochs * self.steps_per_epoch
        lr = one_cycle_lr(step, total, self.config.peak_lr, self.config.warmup_fraction)
        self.model.optimizer.learning_rate.assign(lr)


class Checkpoint(keras.callbacks.Callback):
    """Writes last.keras and state.json atomically after every epoch, records each epoch's
    wall time in the history (a run may span sessions) and says how long the rest will take."""

    def __init__(self, run_dir: Path, config: TrainConfig, history: dict) -> None:
        super().__init__()
        self.run_dir, self.config, self.history = run_dir, config, history
        self.epoch_started, self.timed = 0.0, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        tmp = self.run_dir / "last.tmp.keras"
        self.model.save(tmp)
        os.replace(tmp, self.run_dir / "last.keras")
        self.timed.append(time.monotonic() - self.epoch_started)
        self.history.setdefault("epoch_seconds", []).append(round(self.timed[-1], 1))
        _write_json(self.run_dir / "state.json", {
            "config": asdict(self.config), "epochs_done": epoch + 1, "history": self.history,
        })
        print(remaining_line(epoch + 1, self.config.epochs, sum(self.timed) / len(self.timed)),
              flush=True)


def remaining_line(done: int, total: int, seconds_per_epoch: float) -> str:
    """`checkpoint 12/60: 4:05 an epoch, about 3:16:00 to go (stop any time; ...)`."""
    left = "done" if done >= total else (
        f"about {format_seconds(seconds_per_epoch * (total - done))} to go (stop any time; "
        "continue with --resume)")
    return f"checkpoint {done}/{total}: {format_seconds(seconds_per_epoch)} an epoch, {left}"


def train(config: TrainConfig, run_dir: Path, *, resume: bool = False,
          explicit: set[str] | None = None) -> dict:
    """Train (or resume) a run in `run_dir`; return the run summary. `explicit` names the
    config fields the user set (None: all), so a resume warns only about those."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "state.json"
    if state_path.exists() and not resume:
        raise LabelerError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
    if resume and state_path.exists():
        config = _resumed_config(json.loads(state_path.read_text())["config"], config, explicit)
    if config.preset == "transfer" and resume:
        raise LabelerError("a transfer run takes minutes and has no checkpoints to resume: "
                           "start it again with another --out")
    if not 0 < config.val_fraction <= 0.5:
        raise LabelerError("val_fraction: hold out more than none and at most half of each "
                           "class: the held-out images calibrate the confidences")
    if config.teacher_views and not config.teachers:
        raise LabelerError("--teacher-views needs --teacher: the models that judge the views")
    start = starting_point(config.start_from) if config.start_from else None
    if start:
        config.preset = start.preset or config.preset
        config.image_size = start.bundle.height
    if config.preset not in PRESETS:  # a bundle's own may be one this version no longer has
        raise LabelerError(f"unknown preset {config.preset!r}; this version trains "
                           f"{', '.join(PRESETS)}")
    fresh = not (resume and state_path.exists())
    if fresh and not start and config.preset != "transfer":
        config.image_size = config.image_size or fitted_side(config.data)
        if explicit is not None:  # the command line's defaults are fitted to the data
            fit_recipe(config, explicit)
    classes = classes_for(start, load_dataset(config.data, "train", config.input_size).classes
                          ) if start else None
    split = held_out_split(config.data, config.input_size, config.val_fraction, config.seed,
                           classes)
    if config.limit:
        kept = np.arange(min(config.limit, len(split.train)))
        split = replace(split, train=split.train.subset(kept), train_index=split.train_index[kept])
    print(f"held out {len(split.held_out):,} images ({split.how}) to validate and calibrate on",
          flush=True)
    if fresh:
        fit_batch(config, len(split.train), explicit)
    keras.utils.set_random_seed(config.seed)
    with compute_policy("mixed_bfloat16" if config.mixed_precision else "float32"):
        return _train(config, run_dir, split, start, resume=resume)


@contextmanager
def compute_policy(name: str):
    """Build and train under Keras's dtype policy `name`, restoring the previous one after, so
    a mixed-precision run leaves nothing behind in the process (tests train many models)."""
    previous = keras.mixed_precision.dtype_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train(config: TrainConfig, run_dir: Path, split: Split, start: StartingPoint | None,
           *, resume: bool) -> dict:
    if config.preset == "transfer":
        return _train_transfer(config, run_dir, split)
    data, train_set, val_set = split.train, split.train, split.held_out
    check_teachers_split(config.teachers, config.seed, config.val_fraction)
    model, done, history = _model_and_state(config, run_dir, data, train_set.pixels, start,
                                            resume=resume)
    views = teacher_views(
        config.teachers, train_set.pixels, data.classes, config.teacher_views, config.seed,
        config.max_shift, config.cutout, run_dir / "teacher-views.npy",
    ) if config.teacher_views else None
    teach = make_teach(config.teachers, train_set.pixels, data.classes,
                       run_dir) if config.teachers and not views else None
    batches = AugmentedBatches(
        larger_pixels(config, split) if config.crop_area else train_set.pixels, train_set.labels,
        len(data.classes), config.batch_size, config.seed, epoch=done, cutout=config.cutout,
        pad=config.max_shift, teach=teach, teacher_weight=config.teacher_weight,
        cutmix=config.cutmix, views=views, crop_area=config.crop_area,
        side=config.input_size[0],
    )
    started = time.time()
    if done < config.epochs:
        print(f"training {config.preset} on {len(train_set)} images "
              f"({len(val_set)} held out), epochs {done + 1}..{config.epochs}", flush=True)
        validation = (val_set.pixels.astype(np.float32),
                      np.eye(len(data.classes), dtype=np.float32)[val_set.labels])
        model.fit(
            without_autotune(batches), epochs=config.epochs, initial_epoch=done,
            shuffle=False,  # the batches are permuted per epoch already
            validation_data=validation if len(val_set) else None,
            callbacks=[OneCycle(len(batches), config), Checkpoint(run_dir, config, history),
                       AdvanceEpoch(batches), KeepFreedMemory()],
            verbose=1 if sys.stdout.isatty() else 2,
        )
    record = {**data_record(config.data), "images": len(train_set),
              "held_out": split.record(),
              **({"fine_tuned_from": start.record()} if start else {})}
    return _finish(model, config, run_dir, split, history, time.time() - started, record)


def _train_transfer(config: TrainConfig, run_dir: Path, split: Split) -> dict:
    """ImageNet MobileNetV3Small: the head on cached features, then the top blocks."""
    started, classes = time.time(), split.train.classes
    base = transfer.backbone(config.input_size[0], config.weights)
    model = transfer.make_transfer((*config.input_size, 3), len(classes), base)
    _write_json(run_dir / "classes.json", list(classes))
    larger = larger_pixels(config, split)
    print(f"training transfer on {len(split.train)} images ({len(split.held_out)} held out)",
          flush=True)
    history = transfer.fit_head(model, split.train.pixels, larger, split.train.labels,
                                config.seed, config.label_smoothing,
                                transfer.head_epochs(len(split.train)))
    history |= transfer.fine_tune_top(model, larger, split.train.labels, config.epochs,
                                      config.peak_lr, config.label_smoothing, config.seed)
    history["epoch_seconds"] = [round(time.time() - started, 1)]
    _write_json(run_dir / "state.json", {"config": asdict(config),
                                         "epochs_done": config.epochs, "history": history})
    record = {**data_record(config.data), "images": len(split.train),
              "held_out": split.record(), "backbone": "MobileNetV3Small (ImageNet)"}
    return _finish(model, config, run_dir, split, history, time.time() - started, record)


def _resumed_config(saved: dict, given: TrainConfig,
                    explicit: set[str] | None = None) -> TrainConfig:
    """A resumed run keeps the settings it started with (its schedule depends on them); only
    the data location (moved or re-extracted) and, when given, the number of epochs change."""
    epochs = given.epochs if explicit is None or "epochs" in explicit else saved["epochs"]
    # Options a run of an earlier version saved and this one no longer has are dropped.
    known = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{**{k: v for k, v in saved.items() if k in known},
                            "data": given.data, "epochs": epochs})
    ignored = [k for k, v in asdict(given).items()
               if k not in ("data", "epochs") and v != saved.get(k) and v is not None
               and (explicit is None or k in explicit)]
    if ignored:
        print(f"resuming with the run's own settings; ignoring changed: {', '.join(ignored)}")
    return config


def _model_and_state(config: TrainConfig, run_dir: Path, data: LabelledImages,
                     train_pixels: np.ndarray, start: StartingPoint | None, *, resume: bool):
    last = run_dir / "last.keras"
    if resume and last.exists():
        state = json.loads((run_dir / "state.json").read_text())
        print(f"resuming {last} after epoch {state['epochs_done']}", flush=True)
        return (_with_sam(keras.models.load_model(last), config), state["epochs_done"],
                state["history"])
    if start:
        model = starting_model(start, data.classes)
    else:
        model = PRESETS[config.preset](data.pixels.shape[1:], len(data.classes))
        init_whitening(model, train_pixels)
        init_identity(model)
    model = _with_sam(model, config)
    compile_for_training(model, config)
    _write_json(run_dir / "classes.json", list(data.classes))
    return model, 0, {}


def _with_sam(model: keras.Model, config: TrainConfig) -> keras.Model:
    # A SAM checkpoint loads back as SharpnessAwareModel; its radius comes from the config.
    return sharpness_aware(model, config.sam) if config.sam else model


def compile_for_training(model: keras.Model, config: TrainConfig) -> None:
    """The optimizer, loss and metric every run trains with (and `labeler bench train` times)."""
    model.compile(
        optimizer=BiasScaledSGD(
            bias_lr_scale=config.bias_lr_scale, learning_rate=config.peak_lr, momentum=0.9,
            nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )


def _finish(model, config: TrainConfig, run_dir: Path, split: Split,
            history: dict, seconds: float, record: dict) -> dict:
    if config.mixed_precision or config.sam:
        model = float32_copy(model, config.preset)
    model.save(run_dir / "model.keras")
    val_set = split.held_out
    calibration = honest_calibration(predict_logits(model, val_set.pixels), split)
    # Recorded so the export can offer a flip average in the graph with its own temperature.
    calibration["flip_average"] = honest_calibration(
        predict_logits(model, val_set.pixels, flip_average=True), split, say=False)
    _write_json(run_dir / "calibration.json", calibration)
    _write_json(run_dir / "history.json", history)
    summary = {
        "preset": config.preset, "epochs": config.epochs, "parameters": model.count_params(),
        "multiply_adds": count_macs(model),
        # Photos gain most from a second look at the mirror image, and can afford it.
        **({"second_look": "always"} if config.crop_area else {}),
        "train_seconds_this_session": round(seconds, 1),
        # Across sessions; runs from before epoch times were recorded have none.
        "train_seconds_all_epochs": round(sum(history.get("epoch_seconds", [])), 1),
        **record,
        **calibration,
    }
    _write_json(run_dir / "summary.json", summary)
    try:
        from labeler.report_plots import plot_history

        plot_history(history, run_dir / "curves.png")
    except ImportError:
        pass
    return summary


def float32_copy(model: keras.Model, preset: str) -> keras.Model:
    """The same preset built as a plain float32 model with the trained weights (which mixed
    precision keeps in float32 anyway): what gets calibrated, saved and exported, so no bfloat16
    cast or training-only model class reaches the bundle, and the temperature is fitted on
    exactly the arithmetic that serves."""
    with compute_policy("float32"):
        copy = PRESETS[preset](model.input_shape[1:], model.output_shape[-1])
    copy.set_weights(model.get_weights())
    return copy


def _write_json(path: Path, payload) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
