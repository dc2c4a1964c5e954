"""Training data: image folders, manifests, the original CIFAR-10 python batches, or
keras.datasets.

Every source becomes `LabelledImages` (uint8 NHWC pixels, integer labels, class names). Image
folders are decoded with `labeler.imaging.decode_image`, the function the worker uses, and the
decoded arrays are cached next to nothing the user owns (under LABELER_HOME), keyed by content.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labeler.errors import DecodeError, LabelerError
from labeler.imaging import decode_image
from labeler.manifest import is_manifest, read_manifest
from labeler.scan import is_image_path
from labeler.settings import labeler_home


@dataclass(frozen=True)
class LabelledImages:
    pixels: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int32 (N,)
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> LabelledImages:
        return LabelledImages(self.pixels[index], self.labels[index], self.classes)


def load_dataset(source: str, split: str, size: tuple[int, int] = (32, 32),
                 classes: tuple[str, ...] | list[str] | None = None) -> LabelledImages:
    """Load `split` ("train" or "test") from an image folder, a manifest (`.csv`: every row
    is in both splits), CIFAR batches, or "keras". With `classes` (a model's, when one is
    fine-tuned), labels are numbered in that order; the data may use fewer of them."""
    data = _load(source, split, size)
    return data if classes is None else in_class_order(data, tuple(classes))


def _load(source: str, split: str, size: tuple[int, int]) -> LabelledImages:
    if source == "keras":
        return _load_keras_cifar10(split)
    if is_manifest(source):
        return load_manifest_images(source, size)
    path = Path(source)
    if not path.is_dir():
        raise LabelerError(f"dataset not found: {source} (an image folder or a .csv manifest)")
    if (path / "data_batch_1").exists() or (path / "cifar-10-batches-py").is_dir():
        return _load_cifar_batches(path, split)
    folder = path / split if (path / split).is_dir() else path
    return load_image_folder(folder, size)


def in_class_order(data: LabelledImages, classes: tuple[str, ...]) -> LabelledImages:
    unknown = sorted(set(data.classes) - set(classes))
    if unknown:
        raise LabelerError(f"labels {', '.join(unknown)} are not among the model's classes "
                           f"({', '.join(classes)})")
    position = np.array([classes.index(name) for name in data.classes], dtype=np.int32)
    return LabelledImages(data.pixels, position[data.labels], classes)


def load_manifest_images(manifest: str, size: tuple[int, int]) -> LabelledImages:
    """The images a manifest lists; class names are its sorted labels. An image that does
    not decode is left out with its reason printed, as for folders."""
    rows = read_manifest(manifest)
    classes = tuple(sorted({label for _path, label in rows}))
    missing = [path for path, _label in rows if not os.path.isfile(path)]
    if missing:
        raise LabelerError(f"{len(missing):,} images of {manifest} do not exist, such as "
                           f"{missing[0]} (relative paths are read from the manifest's folder)")
    files = [(path, classes.index(label)) for path, label in rows]
    return _decoded_with_cache(Path(manifest).stem, files, size, classes)


def load_image_folder(folder: Path, size: tuple[int, int]) -> LabelledImages:
    """`folder/<class>/<image>`: class names are the sorted sub-folder names."""
    classes, files = image_folder_files(folder)
    return _decoded_with_cache(folder.name, files, size, classes)


def image_folder_files(folder: Path) -> tuple[tuple[str, ...], list[tuple[str, int]]]:
    """The class names of `folder/<class>/<image>` and its (path, class index) pairs, in class
    order and then file-name order."""
    classes = tuple(sorted(d.name for d in folder.iterdir() if d.is_dir()))
    if not classes:
        raise LabelerError(f"no class folders under {folder} (expected {folder}/<class>/<image>)")
    files: list[tuple[str, int]] = []
    for index, name in enumerate(classes):
        for root, _dirs, names in os.walk(folder / name):
            files += [(os.path.join(root, n), index) for n in sorted(names) if is_image_path(n)]
    if not files:
        raise LabelerError(f"no images under {folder}")
    return classes, files


def typical_short_side(source: str, sample: int = 200) -> int | None:
    """The median shorter side, in pixels, of up to `sample` of the training images (read from
    their headers); None for sources that are not image files (CIFAR batches, keras)."""
    if is_manifest(source):
        paths = [path for path, _label in read_manifest(source)]
    else:
        folder = Path(source) / "train" if (Path(source) / "train").is_dir() else Path(source)
        try:
            paths = [path for path, _label in image_folder_files(folder)[1]]
        except (LabelerError, OSError):  # CIFAR batches, keras, or no images to judge by
            return None
    from PIL import Image

    sides = []
    for path in paths[:: max(1, len(paths) // sample)][:sample]:
        try:
            with Image.open(path) as image:
                sides.append(min(image.size))
        except OSError:
            continue
    return int(np.median(sides)) if sides else None


def _decoded_with_cache(name: str, files: list[tuple[str, int]], size: tuple[int, int],
                        classes: tuple[str, ...]) -> LabelledImages:
    cache = _cache_path(name, files, size)
    if cache.exists():
        with np.load(cache, allow_pickle=False) as saved:
            return LabelledImages(saved["pixels"], saved["labels"], classes)
    pixels, labels = _decode_all(files, size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, pixels=pixels, labels=labels)
    return LabelledImages(pixels, labels, classes)


def _decode_all(files: list[tuple[str, int]], size: tuple[int, int]):
    def decode(item: tuple[str, int]):
        try:
            return decode_image(item[0], size), item[1]
        except DecodeError as exc:
            print(f"skipping {item[0]}: {exc}")
            return None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        decoded = [d for d in pool.map(decode, files, chunksize=256) if d is not None]
    pixels = np.stack([d[0] for d in decoded])
    labels = np.array([d[1] for d in decoded], dtype=np.int32)
    return pixels, labels


def _cache_path(name: str, files: list[tuple[str, int]], size: tuple[int, int]) -> Path:
    digest = hashlib.sha256(repr(size).encode())
    for path, label in files:
        stat = os.stat(path)
        digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return labeler_home() / "cache" / "datasets" / f"{name}-{digest.hexdigest()[:16]}.npz"


CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def _load_cifar_batches(path: Path, split: str) -> LabelledImages:
    if (path / "cifar-10-batches-py").is_dir():
        path = path / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    pixels, labels = [], []
    for name in names:
        with open(path / name, "rb") as fh:
            # The official batches are pickles; only load them from a folder the user named.
            batch = pickle.load(fh, encoding="bytes")
        pixels.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], np.int32))
    nhwc = np.concatenate(pixels).transpose(0, 2, 3, 1).copy()
    return LabelledImages(nhwc, np.concatenate(labels), CIFAR10_CLASSES)


def _load_keras_cifar10(split: str) -> LabelledImages:
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return LabelledImages(x.astype(np.uint8), y.reshape(-1).astype(np.int32), CIFAR10_CLASSES)
