"""Label Studio in both directions: tasks with labeler's predictions whose images it can show,
and the labels people gave there read back from its JSON export.

One task per finished image: the label as a `choices` prediction on an image, matching the
labelling config from `labelling_config` (Label Studio's image classification template).
Where Label Studio loads each image from is an `ImageAddress`: `labeler serve` (CORS opened for
Label Studio's origin), Label Studio's own local-files storage, or the user's file server.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import NamedTuple
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from labeler.buckets import is_bucket_url
from labeler.destinations import open_destination
from labeler.errors import LabelerError
from labeler.results_io import item_matches
from labeler.store import JobStore
from labeler.store.result_text import decode_result

FROM_NAME, TO_NAME = "choice", "image"
# Largest side of an image served by `labeler serve` to Label Studio (the page's thumbnails are
# smaller); an image no larger is sent as it is.
SERVED_IMAGE_SIDE = 2048
ADDRESS_KINDS = ("served", "local-files", "url-prefix", "bucket")


def labelling_config(class_names: Iterable[str]) -> str:
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in class_names)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single">\n'
            f"{choices}\n  </Choices>\n</View>\n")


@dataclass(frozen=True)
class ImageAddress:
    """How Label Studio reaches a job's images.

    served: `base` is the address of `labeler serve` as Label Studio's users' browsers reach
        it (its public URL, not the request's Host); needs `labeler serve --cors-origin`.
    local-files: `base` is Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT; images must
        lie under it, and do not depend on labeler running.
    url-prefix: `base` is the URL of the job's folder on the user's own file server or bucket.
    bucket: a bucket job's objects by their own URLs (s3://bucket/key), which Label Studio's
        cloud storage of that bucket resolves (source storage with pre-signed URLs on).
    """

    kind: str
    base: str

    def __post_init__(self) -> None:
        if self.kind not in ADDRESS_KINDS:
            raise LabelerError(f"unknown image address {self.kind!r}: use one of "
                               f"{', '.join(ADDRESS_KINDS)}")
        if self.kind in ("served", "url-prefix") and not self.base.startswith(
                ("http://", "https://")):
            raise LabelerError(f"{self.kind} needs an http:// or https:// URL, not {self.base!r}")
        if self.kind == "local-files" and not os.path.isabs(self.base):
            raise LabelerError(f"the local-files document root must be an absolute path, "
                               f"not {self.base!r}")

    def url(self, job_id: str, index: int, folder: str, path: str) -> str:
        if self.kind == "served":
            return (f"{self.base.rstrip('/')}/api/jobs/{job_id}/image?index={index}"
                    f"&size={SERVED_IMAGE_SIDE}")
        if self.kind == "url-prefix":
            return f"{self.base.rstrip('/')}/{quote(path)}"
        if self.kind == "bucket":
            return f"{folder}/{path}"
        relative = self._under_root(os.path.normpath(os.path.join(folder, path)))
        return f"/data/local-files/?d={quote(PurePosixPath(relative).as_posix())}"

    def check_folder(self, folder: str) -> None:
        """Refuse a job whose folder these addresses cannot name (before any task is made)."""
        if self.kind == "local-files":
            self._under_root(os.path.normpath(folder))
        if self.kind == "bucket" and not is_bucket_url(folder):
            raise LabelerError(f"the job's images are in {folder}, not in a bucket: use "
                               "served:URL, local-files:DOCUMENT_ROOT or url-prefix:URL")

    def _under_root(self, full: str) -> str:
        relative = os.path.relpath(full, self.base)
        if relative == ".." or relative.startswith("../"):
            raise LabelerError(
                f"{full} is outside the local-files document root {self.base}: set Label "
                "Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT to a folder above the job's")
        return relative


def parse_address(text: str, served_base: str | None = None) -> ImageAddress:
    """`served:URL`, `local-files:DOCUMENT_ROOT`, `url-prefix:URL` or `bucket`; a bare `served`
    means `served_base` (the page's own address, when asked from the page)."""
    kind, _, where = text.partition(":")
    if kind == "served" and not where and served_base:
        where = served_base
    if kind == "bucket" and not where:
        return ImageAddress(kind, "")
    if kind not in ADDRESS_KINDS or not where:
        raise LabelerError(f"cannot read image address {text!r}: use served:URL (labeler serve's "
                           "public address), local-files:DOCUMENT_ROOT, url-prefix:URL or "
                           "bucket (a bucket job's own s3:// URLs)")
    return ImageAddress(kind, where)


def job_tasks(store: JobStore, job_id: str, address: ImageAddress, label: str | None = None,
              below: float | None = None) -> Iterator[dict]:
    """Label Studio tasks for the finished items of a job (those `item_matches` keeps), in
    index order, read a block at a time. Failed images come in without a prediction but with
    their error, so nobody forgets to look at them. `data.folder` and `data.path` name the
    file, for `reviewed_labels`. An item reviewed on labeler's page comes with its review as
    an annotation, and `data.reviewed_by` names who made it (Label Studio's own users are
    others)."""
    folder = store.require(job_id).record.get("root", "")
    _classes, models = store.tables(job_id)
    index = -1
    for block in store.stored_blocks(job_id):
        reviews = store.reviews_of(job_id, list(range(index + 1, index + 1 + len(block))))
        for path, stored, error in block:
            index += 1
            if stored is None and error is None:
                continue
            result = decode_result(stored, models) if stored is not None else None
            if not item_matches(result, label, below):
                continue
            data = {"image": address.url(job_id, index, folder, path), "path": path,
                    "folder": folder, "job": job_id}
            if result is None:
                yield {"data": {**data, "error": error.decode()}, "predictions": []}
            else:
                # The label also in the data: Label Studio's JSON export names predictions by
                # id only, and it is a column to sort and filter by in its data manager.
                task = {"data": {**data, "predicted_label": result.label,
                                 "confidence": result.confidence},
                        "predictions": [prediction(result.label, result.confidence,
                                                   result.model)]}
                if review := reviews.get(index):
                    task["data"].update(reviewed_by=review.by, review=review.source)
                    task["annotations"] = [{"result": prediction(review.label, 1.0, "")[
                        "result"], "ground_truth": False}]
                yield task


def prediction(label: str, score: float, model_version: str) -> dict:
    return {"model_version": model_version, "score": score,
            "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                        "value": {"choices": [label]}}]}


def tasks_json(tasks: Iterable[dict], block: int = 1000) -> Iterator[str]:
    """A JSON array of the tasks as text blocks (a million-image job in bounded memory)."""
    parts = ["["]
    for count, task in enumerate(tasks):
        parts.append(("," if count else "") + "\n" + json.dumps(task))
        if len(parts) >= block:
            yield "".join(parts)
            parts = []
    parts.append("\n]\n")
    yield "".join(parts)


def write_tasks(tasks: Iterable[dict], path: str) -> int:
    """The tasks as a JSON file at `path` ('-': standard output, or a bucket URL); returns
    how many."""
    count = 0

    def counted():
        nonlocal count
        for task in tasks:
            count += 1
            yield task

    with open_destination(path) as out:
        for text in tasks_json(counted()):
            out.write(text)
    return count


# --- back from Label Studio ------------------------------------------------------------------

class ReviewedLabel(NamedTuple):
    """One image's label after review. source: `corrected` (a person chose another label than
    the model's), `accepted` (a person submitted the model's label), `annotated` (a person
    labelled an image that had no prediction) or `predicted` (nobody reviewed it; only kept
    when asked for)."""

    path: str
    label: str
    source: str


SOURCES = ("corrected", "accepted", "annotated", "predicted")


@dataclass
class Review:
    labels: list[ReviewedLabel]
    counts: Counter  # per source, plus "unreviewed" and "skipped" tasks left out

    def summary(self) -> str:
        parts = [f"{self.counts[s]:,} {s}" for s in (*SOURCES, "unreviewed", "skipped")
                 if self.counts[s]]
        return f"{len(self.labels):,} labels from {sum(self.counts.values()):,} tasks: " + \
            ", ".join(parts or ["none"])


def reviewed_labels(tasks: list[dict], *, keep_unreviewed: bool = False) -> Review:
    """The labels of a Label Studio JSON export of tasks made by `job_tasks`. Per task, the
    ground-truth annotation if one is marked, else the latest submitted one; skipped
    (cancelled) annotations count as no review."""
    labels, counts = [], Counter()
    for task in tasks:
        data = task.get("data", {})
        if "path" not in data:
            raise LabelerError(f"task {task.get('id')} has no data.path: it did not come from "
                               "labeler's Label Studio export")
        path = os.path.join(data.get("folder", ""), data["path"])
        annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        chosen = _reviewing_annotation(annotations) if annotations else None
        label = _choice(chosen) if chosen else None
        predicted = _model_label(task, chosen)
        if label is None:
            skipped = any(a.get("was_cancelled") for a in task.get("annotations") or [])
            if keep_unreviewed and predicted is not None and not skipped:
                labels.append(ReviewedLabel(path, predicted, "predicted"))
                counts["predicted"] += 1
            else:
                counts["skipped" if skipped else "unreviewed"] += 1
            continue
        source = ("annotated" if predicted is None
                  else "accepted" if label == predicted else "corrected")
        labels.append(ReviewedLabel(path, label, source))
        counts[source] += 1
    return Review(labels, counts)


def _reviewing_annotation(annotations: list[dict]) -> dict:
    marked = [a for a in annotations if a.get("ground_truth")]
    return max(marked or annotations,
               key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a.get("id", 0)))


def _model_label(task: dict, annotation: dict | None) -> str | None:
    """The model's label the reviewer saw: the prediction the annotation was made on, else
    the task's latest prediction, else the label labeler wrote into the task's data (Label
    Studio's plain JSON export lists predictions by id only)."""
    seen = annotation.get("prediction") if annotation else None
    if isinstance(seen, dict) and _choice(seen):
        return _choice(seen)
    objects = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    if objects:
        return _choice(max(objects, key=lambda p: (p.get("created_at") or "", p.get("id", 0))))
    return task.get("data", {}).get("predicted_label")


def choice_of(annotation_or_prediction: dict) -> str | None:
    """The class an annotation (or prediction) in labeler's labelling config chose."""
    return _choice(annotation_or_prediction)


def _choice(annotation_or_prediction: dict) -> str | None:
    for region in annotation_or_prediction.get("result") or []:
        if region.get("from_name") == FROM_NAME and region.get("type") == "choices":
            choices = region.get("value", {}).get("choices") or []
            if choices:
                return choices[0]
    return None


def read_export(path: str) -> list[dict]:
    """A Label Studio project export in its JSON format (a list of tasks)."""
    try:
        with open(path, encoding="utf-8") as fh:
            tasks = json.load(fh)
    except (OSError, ValueError) as exc:
        raise LabelerError(f"cannot read the Label Studio export {path}: {exc}") from None
    if not isinstance(tasks, list):
        raise LabelerError(f"{path} is not a Label Studio JSON export (a list of tasks): "
                           "export the project as JSON, not JSON-MIN or CSV")
    return tasks
