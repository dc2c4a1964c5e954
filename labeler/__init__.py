"""labeler: batch image labelling with a Keras-trained CNN served by ONNX Runtime on Celery.

The installed package maps the checkout's top-level folders into it (`worker/` is
`labeler.worker`, `cli/` is `labeler.cli`, and so on: pyproject.toml's package-dir). When this
folder is imported straight from a checkout (`python -m labeler.cli.reference` in its root),
the checkout's root joins the package's path, so the same names resolve the same way.

The core (this folder) in three groups over a base of settings, errors, durations and
metrics (numpy arithmetic); orchestration and modelling use the runtime path, never the
other way round:
- the runtime path: scan, imaging (decode), protocol (the task message), engine, serving,
  bundle, store/ (every Redis key), processes, results_io (the results files), signature
  (each image's near-duplicate signature);
- orchestration: submit, waiting, local_workers, redis_server, broker, context, doctor,
  fleet_metrics;
- offline modelling and review: datasets, splits, evaluation, report_plots, manifest,
  labelstudio, duplicates and job_duplicates (near-duplicate groups), job_reviews (people's
  reviews as a manifest).
"""

from pathlib import Path as _Path

__version__ = "0.1.0"

_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "worker" / "tasks.py").is_file():
    __path__.append(str(_checkout))
