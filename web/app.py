"""The web app: one page (static files) and the JSON API it uses, over the job store.

Bound to loopback by default. Requests must name this server in Host (stops DNS rebinding) and
state-changing requests must carry the `X-Labeler` header, which a page from another site can
only send after a CORS preflight this app never grants (stops cross-site uploads).
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import redis
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from labeler import __version__, labelstudio
from labeler.bucket_reads import BucketReader, bucket_sources
from labeler.buckets import is_bucket_url
from labeler.bundle import ModelBundle, load_bundle
from labeler.context import Context
from labeler.errors import DecodeError, JobNotFound, LabelerError, ServiceError
from labeler.fleet_metrics import metrics_text
from labeler.imaging import preview_jpeg
from labeler.job_duplicates import job_duplicates
from labeler.local_workers import WorkerSupply
from labeler.results_io import job_result_text, stored_row_filter
from labeler.results_parquet import write_parquet
from labeler.scan import IMAGE_EXTENSION_LIST, is_inside, resolve_inside
from labeler.store import JobState
from labeler.web.auth import AuthConfig
from labeler.web.gate import Gate
from labeler.web.login_routes import add_login_routes
from labeler.web.ml_backend import ImageUnavailable, MlBackend, add_ml_backend_routes
from labeler.web.queries import SORTS, ItemQuery, select_items
from labeler.web.realtime import RealtimeLabeller
from labeler.web.realtime_routes import add_realtime_routes
from labeler.web.review_routes import add_review_routes
from labeler.web.uploads import UploadLimits, UploadRefused, save_uploads, uploads_root

STATIC = Path(__file__).resolve().parent / "static"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


@dataclass
class WebConfig:
    limits: UploadLimits = field(default_factory=UploadLimits)
    allowed_hosts: list[str] = field(default_factory=lambda: list(LOOPBACK_HOSTS))
    spawn_workers: bool = True
    top_k: int = 5
    # Origins (such as a Label Studio's) whose pages may read images and results; none by
    # default. Never the uploads: the X-Labeler header stays refused to every other origin.
    cors_origins: list[str] = field(default_factory=list)
    # This server's address as other machines' browsers reach it, for links in exports.
    public_url: str | None = None
    # Sign-in (web/auth.py); None: none, for a server on loopback only.
    auth: AuthConfig | None = None
    # How long POST /api/label's batching loop waits for more images to join a batch.
    label_wait_ms: float = 0.5
    # Real-time inference sessions (one thread each) in this server process; None: one per
    # core, shared out when several processes serve (serve --processes).
    label_runners: int | None = None


def create_app(config: WebConfig | None = None, ctx: Context | None = None) -> FastAPI:
    config = config or WebConfig()
    ctx = ctx or Context()
    app = FastAPI(title="labeler", version=__version__, docs_url=None, redoc_url=None,
                  description="Label images with the labeler pipeline: submit, follow, review.")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.allowed_hosts)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins,
                           allow_methods=["GET", "HEAD"], allow_credentials=False)
    api = JobsApi(ctx, config)

    # Added last, so it runs first: sign-in, then the change header.
    app.add_middleware(Gate, auth=config.auth)
    add_login_routes(app, config.auth)
    add_review_routes(app, ctx.store)
    add_realtime_routes(app, lambda: api.realtime)
    add_ml_backend_routes(app, MlBackend(ctx.store, lambda: api.realtime, api.task_image))

    @app.exception_handler(LabelerError)
    async def labeler_error(request: Request, exc: LabelerError):
        status = 503 if isinstance(exc, ServiceError) else 404 if isinstance(
            exc, JobNotFound) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(redis.RedisError)
    async def redis_error(request: Request, exc: redis.RedisError):
        return JSONResponse({"detail": f"Redis failed: {exc}"}, status_code=503)

    # Readable routes answer HEAD too (link checkers, curl -I, proxies' health probes).
    def read(path: str, **kwargs):
        return app.api_route(path, methods=["GET", "HEAD"], **kwargs)

    read("/", include_in_schema=False)(lambda: FileResponse(STATIC / "index.html"))
    read("/favicon.ico", include_in_schema=False)(
        lambda: Response(favicon_png(), media_type="image/png",
                         headers={"Cache-Control": "public, max-age=86400"}))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.get("/api/health", summary="Liveness and what runs")(api.health)
    read("/metrics", summary="Prometheus metrics of the whole fleet",
         response_class=Response)(api.metrics)
    app.get("/api/jobs", summary="Recent jobs")(api.recent)
    app.post("/api/jobs", status_code=201, summary="Upload images or zips and label them",
             openapi_extra=UPLOAD_BODY)(api.upload)
    app.get("/api/jobs/{job_id}", summary="Progress of one job")(api.status)
    app.get("/api/jobs/{job_id}/items", summary="Labelled and failed items, filtered")(api.items)
    app.get("/api/jobs/{job_id}/duplicates",
            summary="Groups of near-identical images, largest first")(api.duplicates)
    read("/api/jobs/{job_id}/image", summary="An item's image as a JPEG preview",
         response_class=Response)(api.image)
    read("/api/jobs/{job_id}/results.{fmt}", summary="All results as CSV, JSONL or Parquet",
         response_class=PlainTextResponse)(api.download)
    read("/api/jobs/{job_id}/labelstudio.json",
         summary="Label Studio tasks with predictions")(api.label_studio)
    read("/api/jobs/{job_id}/labelstudio-config.xml", response_class=PlainTextResponse,
         summary="Label Studio labelling config for those tasks")(api.label_studio_config)
    return app


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"],
    "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": f"Images ({IMAGE_EXTENSION_LIST}) or zips"},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 100},
    }}}}}}


class JobsApi:
    def __init__(self, ctx: Context, config: WebConfig) -> None:
        self.ctx = ctx
        self.config = config

    @cached_property
    def bundle(self) -> ModelBundle:
        return load_bundle(self.ctx.settings.model)

    @cached_property
    def realtime(self) -> RealtimeLabeller:
        runners = {"runners": self.config.label_runners} if self.config.label_runners else {}
        return RealtimeLabeller(self.bundle, top_k=self.config.top_k,
                                max_wait=self.config.label_wait_ms / 1000, **runners)

    def health(self) -> dict:
        workers = self.ctx.fleet.workers()
        limits = self.config.limits
        return {"ok": True, "version": __version__, "workers": len(workers),
                "model": self.bundle.name, "max_files": limits.max_files,
                "max_upload_bytes": limits.max_total_bytes}

    def metrics(self) -> Response:
        text, content_type = metrics_text(self.ctx.store, self.ctx.fleet)
        return Response(text, media_type=content_type)

    def recent(self) -> dict:
        return {"jobs": [job.as_dict() for job in self.ctx.store.recent_jobs(limit=50)]}

    async def upload(self, request: Request) -> dict:
        limits = self.config.limits
        length = int(request.headers.get("content-length") or 0)
        if length > limits.max_total_bytes + (1 << 20):
            raise HTTPException(413, f"upload over {limits.max_total_bytes // 2**20:,} MiB")
        async with request.form(max_files=limits.max_files, max_fields=10) as form:
            files = [(f.filename or "unnamed", f.file) for f in form.getlist("files")
                     if hasattr(f, "file")]
            top_k = _int_field(form.get("top_k"), self.config.top_k)
            if not files:
                raise HTTPException(422, "no files in the form field 'files'")
            return await run_in_threadpool(self._save_and_submit, files, top_k)

    def _save_and_submit(self, files, top_k: int) -> dict:
        from labeler.submit import submit_folder  # Celery loads with the first upload

        try:
            upload = save_uploads(files, self.ctx.settings.home, self.config.limits)
        except UploadRefused as exc:
            raise HTTPException(413 if exc.too_large else 422, str(exc)) from None
        try:
            # Inline: the images travel in the tasks, so workers elsewhere label them too.
            job = submit_folder(self.ctx.store, self.ctx.redis_url, self.ctx.settings,
                                upload.folder, self.bundle, "auto", top_k=top_k, inline=True)
        except BaseException:
            shutil.rmtree(upload.folder, ignore_errors=True)  # not a job: keep nothing
            raise
        self._ensure_worker(job.queue, precision="auto", model=self.bundle.name)
        return {"job": job.job_id, "total": job.total, "skipped": upload.skipped}

    def status(self, job_id: str) -> dict:
        job = self._job(job_id)
        if job.state is not JobState.DONE:
            record = job.record
            self._ensure_worker(record.get("queue"), precision=record.get("precision", "auto"),
                                model=record.get("model"))
        workers = len(self.ctx.fleet.workers(job.record.get("queue")))
        return {**job.as_dict(), "workers": workers, **self.ctx.store.review_counts(job_id)}

    def items(self, job_id: str, label: str | None = None,
              below: float | None = Query(None, ge=0, le=1, description="needs review"),
              sort: str = Query("path", pattern="^(" + "|".join(SORTS) + ")$"),
              offset: int = Query(0, ge=0), limit: int = Query(200, ge=1, le=2000),
              unreviewed: bool = Query(False, description="only items nobody reviewed yet")
              ) -> dict:
        job = self._job(job_id)
        query = ItemQuery(label or None, below, sort, offset, limit, unreviewed)
        return select_items(self.ctx.store, job_id, query, job.done)

    def duplicates(self, job_id: str, groups: int = Query(50, ge=1, le=1000)) -> dict:
        """The `groups` largest groups (`labeler duplicates JOB -o` writes them all)."""
        found = job_duplicates(self.ctx.store, job_id, shown=groups)
        return {"summary": found.summary(), "compared": found.compared,
                "groups": found.groups, "shown": found.shown,
                "rows": [row.as_dict() for row in found.rows]}

    def image(self, job_id: str, index: int | None = Query(None, ge=0),
              path: str | None = None, size: int = Query(192, ge=16, le=2048)) -> Response:
        """An item by its `index` (as the items list gives it), or by `path` (slower)."""
        source = self._item_source(job_id, index, path)
        try:
            data = preview_jpeg(source, size)
        except DecodeError as exc:
            raise HTTPException(422, str(exc)) from None
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    def download(self, job_id: str, fmt: str) -> Response:
        if fmt not in ("csv", "jsonl", "parquet"):
            raise HTTPException(404, "results come as results.csv, .jsonl or .parquet")
        self._job(job_id)
        disposition = {"Content-Disposition": f'attachment; filename="{job_id}.{fmt}"'}
        if fmt == "parquet":
            return self._parquet(job_id, disposition)
        blocks = job_result_text(self.ctx.store, job_id, f".{fmt}")
        media = "text/csv" if fmt == "csv" else "application/x-ndjson"
        return StreamingResponse((text for text, _ in blocks), media_type=media,
                                 headers=disposition)

    def _parquet(self, job_id: str, headers: dict) -> Response:
        """Parquet's footer comes last, so the file is written whole (row group by row group)
        to a temporary file first, which has no name by the time it is sent: nothing is left
        behind, whether the client reads it all or goes away."""
        # Closed by the response's generator (or, for a client gone before it starts, by
        # the garbage collector), not by a `with` here: it outlives this call.
        spool = tempfile.TemporaryFile(dir=self.ctx.settings.home)  # noqa: SIM115
        try:
            write_parquet(self.ctx.store, job_id, spool, stored_row_filter())
            size = spool.tell()
            spool.seek(0)
        except BaseException:
            spool.close()
            raise

        def chunks() -> Iterator[bytes]:
            with spool:
                while data := spool.read(1 << 20):
                    yield data

        return StreamingResponse(chunks(), media_type="application/vnd.apache.parquet",
                                 headers={**headers, "Content-Length": str(size)})

    def label_studio(self, job_id: str, request: Request,
                     images: str = Query("served", description="served, served:URL, "
                                         "local-files:DOCUMENT_ROOT or url-prefix:URL")
                     ) -> Response:
        job = self._job(job_id)
        base = self.config.public_url or str(request.base_url)
        try:
            address = labelstudio.parse_address(images, served_base=base.rstrip("/"))
            # An address that cannot name the images fails here, before the response starts.
            address.check_folder(job.record.get("root", ""))
        except LabelerError as exc:
            raise HTTPException(422, str(exc)) from None
        body = labelstudio.tasks_json(labelstudio.job_tasks(self.ctx.store, job_id, address))
        return StreamingResponse(body, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="{job_id}-labelstudio.json"'})

    def label_studio_config(self, job_id: str) -> str:
        self._job(job_id)
        classes, _models = self.ctx.store.tables(job_id)
        return labelstudio.labelling_config(classes or self.bundle.classes)

    def task_image(self, job_id: str, path: str) -> bytes:
        """A job's image for a Label Studio task, under the same rules as the page's images."""
        try:
            source = self._item_source(job_id, None, path)
            return source if isinstance(source, bytes) else Path(source).read_bytes()
        except (HTTPException, LabelerError) as exc:
            raise ImageUnavailable(str(exc)) from None

    def _job(self, job_id: str):
        return self.ctx.store.require(job_id)

    def _item_source(self, job_id: str, index: int | None, path: str | None) -> str | bytes:
        """Only an item of the job: a file inside its folder, inside the allowed roots (or
        this server's uploads), or an object under its bucket prefix, read with this server's
        credentials (which never reach the browser). The API never serves arbitrary files."""
        job = self._job(job_id)
        if index is None:
            if path is None:
                raise HTTPException(422, "name the item by index or path")
            index = self.ctx.store.find_items(job_id, [path])[0]
        found = self.ctx.store.item_path(job_id, index) if index is not None else None
        if found is None or (path is not None and found != path):
            raise HTTPException(404, "no such item in this job")
        root = job.record.get("root", "/nonexistent")
        if is_bucket_url(root):
            return self._bucket_object(root, index, found)
        allowed = self.ctx.settings.allowed_roots
        if allowed and not any(is_inside(Path(root), r) for r in (
                *allowed, uploads_root(self.ctx.settings.home))):
            raise HTTPException(403, "folder outside LABELER_ALLOWED_ROOTS")
        try:
            return str(resolve_inside(Path(root), found))
        except ValueError:
            raise HTTPException(403, "path escapes the job's folder") from None

    def _bucket_object(self, root: str, index: int, key: str) -> bytes:
        settings = self.ctx.settings
        sources, failed = bucket_sources(self.buckets, root, [(index, key)],
                                         settings.bucket_allowlist)
        if failed:
            reason = failed[index]
            raise HTTPException(404 if reason.startswith("missing") else (
                403 if reason.startswith("refused") else 502), reason)
        return sources[0][1]

    @cached_property
    def buckets(self) -> BucketReader:
        settings = self.ctx.settings
        return BucketReader(settings.fetch_timeout, settings.fetch_concurrency)

    @cached_property
    def supply(self) -> WorkerSupply:
        return WorkerSupply(self.ctx, self.bundle.path, enabled=self.config.spawn_workers)

    def _ensure_worker(self, queue: str | None, *, precision: str, model: str | None) -> None:
        """Keep a local worker on the queue of a running job of this server's model (workers
        exit when idle, as for `labeler submit`)."""
        if queue and model == self.bundle.name:
            self.supply.ensure(queue, precision=precision)


@functools.cache
def favicon_png() -> bytes:
    """A 32x32 tag, drawn once: the page needs no binary file of its own for it."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.polygon([(2, 16), (12, 4), (30, 4), (30, 28), (12, 28)], fill=(37, 99, 235, 255))
    draw.ellipse((9, 13, 15, 19), fill=(255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _int_field(value, default: int) -> int:
    try:
        return max(1, min(100, int(value))) if value else default
    except (TypeError, ValueError):
        return default
