"""Unfamiliarity scores of a bundle's fp32 graph against images outside its classes (research;
docs/unfamiliar-images.md). Needs scikit-learn (it comes with the [train] extra).

    python scripts/unfamiliar_scores.py BUNDLE TRAIN_DIR TEST_DIR OUTSIDE_DIR [OUTSIDE_DIR...]

TRAIN_DIR and TEST_DIR are `<class>/<image>` folders of the bundle's own classes; the graph's
first-pass pooled features and logits are added as outputs; every score is compared by AUROC
and by the share of outside images above the threshold that keeps 95 % of TEST_DIR.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from sklearn.metrics import roc_auc_score

from labeler.bundle import load_bundle
from labeler.errors import DecodeError
from labeler.imaging import decode_image
from labeler.scan import scan_images

FIT_IMAGES = 10_000


def graph_with_features(path: Path) -> tuple[ort.InferenceSession, np.ndarray, float]:
    """The graph with its first pooled features and scaled logits as outputs, and the
    classifier's weights and logit scale (to recompute logits from clipped features)."""
    model = onnx.load(path)
    matmul = next(n for n in model.graph.node if n.op_type == "MatMul")
    scale = next(n for n in model.graph.node if n.op_type == "Mul" and matmul.output[0] in n.input)
    for name in (matmul.input[0], scale.output[0]):
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                                     None))
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    factor = next(float(weights[x]) for x in scale.input if x in weights)
    return (ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]),
            weights[matmul.input[1]], factor)


def images(folder: Path, size: tuple[int, int], limit: int | None = None):
    files = scan_images(folder)
    if limit and len(files) > limit:
        picked = np.random.default_rng(0).choice(len(files), limit, replace=False)
        files = [files[i] for i in sorted(picked)]
    pixels, labels = [], []
    for f in files:
        try:
            pixels.append(decode_image(folder / f.path, size))
            labels.append(f.path.split("/")[0])
        except DecodeError:
            continue
    return np.stack(pixels), np.array(labels)


def run(session, pixels: np.ndarray):
    out = [session.run(None, {session.get_inputs()[0].name: pixels[i:i + 256]})
           for i in range(0, len(pixels), 256)]
    return [np.concatenate([o[k] for o in out]) for k in range(3)]


def logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(1, keepdims=True)
    return (top + np.log(np.exp(logits - top).sum(1, keepdims=True)))[:, 0]


def scores(train_features: np.ndarray, weights: np.ndarray, factor: float) -> dict:
    unit = train_features / np.linalg.norm(train_features, axis=1, keepdims=True)
    clip = np.quantile(train_features, 0.95)

    def knn(features, k=50):
        query = features / np.linalg.norm(features, axis=1, keepdims=True)
        return np.concatenate([-np.sort(-(query[i:i + 1000] @ unit.T), 1)[:, k - 1]
                               for i in range(0, len(query), 1000)])

    return {  # higher: more like the bundle's own classes
        "top probability": lambda p, f, lg: p.max(1),
        "max logit": lambda p, f, lg: lg.max(1),
        "energy": lambda p, f, lg: logsumexp(lg),
        "energy, features clipped at p95": lambda p, f, lg: logsumexp(
            np.minimum(f, clip) @ weights * factor),
        "nearest neighbours, k=50": lambda p, f, lg: knn(f),
        "feature norm": lambda p, f, lg: np.linalg.norm(f, axis=1),
    }


def main(bundle_dir: str, train: str, test: str, *outside: str) -> None:
    bundle = load_bundle(Path(bundle_dir))
    session, weights, factor = graph_with_features(bundle.variant_path("fp32"))
    fit = run(session, images(Path(train), bundle.input_size, FIT_IMAGES)[0])
    inside = run(session, images(Path(test), bundle.input_size)[0])
    others = {name: run(session, images(Path(name), bundle.input_size)[0]) for name in outside}
    for name, score in scores(fit[1], weights, factor).items():
        kept = score(*inside)
        threshold = np.quantile(kept, 0.05)
        cells = []
        for other, outputs in others.items():
            out = score(*outputs)
            auroc = roc_auc_score(np.r_[np.ones(len(kept)), np.zeros(len(out))], np.r_[kept, out])
            cells.append(f"{Path(other).name}: AUROC {auroc:.3f}, unflagged "
                         f"{np.mean(out >= threshold):.1%}")
        print(f"{name:34s} " + "  ".join(cells))


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
