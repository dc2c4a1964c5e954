"""`labeler doctor`: what this machine and its Redis look like to labeler, and what to fix."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labeler.errors import LabelerError
from labeler.settings import PREFIX, VARIABLES, Settings, SettingsError

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def run_checks(model: Path | None = None, buckets: tuple[str, ...] = ()) -> list[Check]:
    """Every check, reading the settings from the environment (a bad one is a failed check);
    `buckets` (and LABELER_ALLOWED_BUCKETS) are listed as this machine's workers would."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return [Check("settings", FAIL, str(exc), "fix or unset that variable"),
                _providers()]
    checks = [_settings(settings), _bundle(model or settings.model), _providers()]
    fleet, redis_check = _redis(settings)
    checks.append(redis_check)
    if fleet is not None:
        checks += [_redis_safety(fleet), _workers(fleet)]
    checks += [_bucket(url, settings) for url in dict.fromkeys(
        (*buckets, *settings.allowed_buckets))]
    return checks


def _settings(settings: Settings) -> Check:
    unknown = sorted(name for name in os.environ
                     if name.startswith(PREFIX) and name not in VARIABLES
                     and name != "LABELER_HOME")
    cautions = settings.cautions() + [f"{name} is not a labeler setting (a typo?)"
                                      for name in unknown]
    detail = f"{len(VARIABLES) + 1} LABELER_* settings parsed"
    if cautions:
        return Check("settings", WARN, detail, "; ".join(cautions))
    return Check("settings", OK, detail)


def _bundle(path: Path) -> Check:
    from labeler.bundle import load_bundle

    try:
        bundle = load_bundle(path)
        for precision in bundle.variants:
            bundle.verified_bytes(precision)
    except LabelerError as exc:
        return Check("model bundle", FAIL, str(exc),
                     "point LABELER_MODEL or --model at a bundle made by 'labeler export'")
    return Check("model bundle", OK, f"{bundle.name} at {bundle.path}: "
                 f"{', '.join(bundle.variants)} verified, {len(bundle.classes)} classes")


def _providers() -> Check:
    import onnxruntime as ort

    from labeler.engine import choose_providers, gpu_present, tensorrt_present

    available = ort.get_available_providers()
    chosen = choose_providers("auto")
    detail = (f"onnxruntime {ort.__version__}; auto uses {', '.join(chosen)}; "
              f"GPU driver {'found' if gpu_present() else 'not found'}, TensorRT library "
              f"{'found' if tensorrt_present() else 'not found'}")
    if gpu_present() and "CUDAExecutionProvider" not in available:
        return Check("providers", WARN, detail,
                     "a GPU is present but this onnxruntime has no CUDA: pip install "
                     "onnxruntime-gpu")
    return Check("providers", OK, detail)


def _redis(settings: Settings):
    from labeler.redis_server import connect, kombu_url, masked_url, redis_url
    from labeler.store import Fleet

    try:
        url = redis_url(settings)
        fleet = Fleet(connect(url))
    except LabelerError as exc:
        return None, Check("redis", FAIL, str(exc),
                           "check LABELER_REDIS_URL (redis://user:password@host:port/db)")
    info = fleet.redis.info("server")
    where = "embedded" if not settings.redis_url else "LABELER_REDIS_URL"
    # In the form Celery's own tools take: celery -b URL inspect ping.
    return fleet, Check("redis", OK, f"Redis {info.get('redis_version')} ({where}) at "
                        f"{masked_url(kombu_url(url))}")


def _redis_safety(fleet) -> Check:
    import redis

    try:
        config = {k: v for k, v in fleet.redis.config_get("*").items()
                  if k in ("maxmemory-policy", "appendonly", "maxmemory")}
    except redis.ResponseError as exc:  # managed Redis services often forbid CONFIG
        return Check("redis settings", WARN, f"cannot read the configuration ({exc})",
                     "make sure maxmemory-policy is noeviction and persistence is on")
    problems = []
    if config.get("maxmemory-policy", "noeviction") != "noeviction":
        problems.append(f"maxmemory-policy is {config['maxmemory-policy']}: queued work can be "
                        "evicted; set it to noeviction")
    if config.get("appendonly") != "yes":
        problems.append("appendonly is off: a crash loses queued work; set appendonly yes")
    detail = ", ".join(f"{k} {v}" for k, v in config.items())
    if problems:
        return Check("redis settings", WARN, detail, "; ".join(problems))
    return Check("redis settings", OK, detail)


def _workers(fleet) -> Check:
    workers = fleet.workers()
    if not workers:
        return Check("workers", WARN, "no worker online",
                     "start one with 'labeler worker' (labeler submit starts one locally when "
                     "it runs the embedded Redis)")
    queues = sorted({q for w in workers for q in w.get("queues", [])})
    return Check("workers", OK, f"{len(workers)} online, serving {', '.join(queues)}")


def _bucket(url: str, settings: Settings) -> Check:
    """Whether this machine can list `url`: the endpoint and where its credentials come from
    (never the credentials), and how many images the first page holds."""
    from labeler.buckets import bucket_root, list_images

    name = f"bucket {url}"
    try:
        root = bucket_root(url)
        allowed = settings.bucket_allowlist
        if allowed is not None and not any(root.within(a) for a in allowed):
            return Check(name, FAIL, "outside LABELER_ALLOWED_BUCKETS: workers refuse it",
                         "add it to LABELER_ALLOWED_BUCKETS")
        first = next(list_images(root, page=100), [])
    except LabelerError as exc:
        return Check(name, FAIL, f"{_store_of(url)}: {exc}",
                     "check the credentials and the endpoint this machine uses")
    return Check(name, OK, f"{_store_of(url)}: listed, {len(first)} images in the first "
                 f"page{'' if len(first) < 100 else ' (or more)'}")


def _store_of(url: str) -> str:
    """For S3: the endpoint and how the credentials were found, e.g. 'env' or 'iam-role'."""
    if not url.startswith(("s3://", "s3a://")):
        return url.split("://", 1)[0] + ":// driver"
    from urllib.parse import urlsplit

    import botocore.exceptions
    import botocore.session

    endpoint = (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                or "AWS")
    if "@" in endpoint:  # never print a user or password written into the URL
        parts = urlsplit(endpoint)
        endpoint = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    try:
        found = botocore.session.get_session().get_credentials()
    except botocore.exceptions.BotoCoreError as exc:  # a named profile that does not exist
        return f"endpoint {endpoint}, credentials unusable ({exc})"
    source = f"credentials from {found.method}" if found else "no credentials (anonymous)"
    return f"endpoint {endpoint}, {source}"
