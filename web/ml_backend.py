"""labeler as a Label Studio ML backend, under /ml: a project's "Connect model" pointed at
`http://LABELER/ml` gets predictions for its tasks as they are asked for, and its annotations
come back (Label Studio calls /ml/webhook for them) as reviews, like the page's.

The protocol (label-studio-ml-backend): GET /ml/health, POST /ml/setup (the project's
config, Label Studio's address and an access token), POST /ml/predict (tasks; one result
each, in order), POST /ml/webhook (annotation events). The images: a task that labeler
exported (`data.job`, `data.path`) is read from the job's folder; any other is fetched from
the Label Studio that set the project up, with its token, and from nowhere else. Predictions
come from the real-time labeller (web/realtime.py), batched with the page's requests.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from labeler import labelstudio
from labeler.imaging import MAX_FILE_BYTES
from labeler.store import JobStore
from labeler.web.realtime import RealtimeBusy, RealtimeLabeller

FETCH_SECONDS = 30


class ImageUnavailable(Exception):
    """A task's image that cannot be had, with why."""


class MlBackend:
    def __init__(self, store: JobStore, labeller: Callable[[], RealtimeLabeller],
                 item_image: Callable[[str, str], bytes]) -> None:
        self.store, self.labeller, self.item_image = store, labeller, item_image
        self.studios: dict[str, tuple[str, str]] = {}  # project id -> (address, token)

    def setup(self, body: dict) -> dict:
        project = str(body.get("project", "")).split(".")[0]
        if body.get("hostname") and body.get("access_token"):
            self.studios[project] = (str(body["hostname"]).rstrip("/"),
                                     str(body["access_token"]))
        return {"model_version": self.labeller().warm().model_id}

    def image(self, project: str, task: dict) -> bytes:
        data = task.get("data") or {}
        if data.get("job") and data.get("path"):
            return self.item_image(str(data["job"]), str(data["path"]))
        url = str(data.get("image") or "")
        studio = self.studios.get(project.split(".")[0])
        if studio is None:
            raise ImageUnavailable("the project was not set up with Label Studio's address")
        address, token = studio
        if url.startswith("/"):
            url = address + url
        if not url.startswith(address + "/"):
            raise ImageUnavailable(f"only images of {address} are fetched")
        request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_SECONDS) as response:
                return response.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ImageUnavailable(f"cannot fetch {url}: {exc}") from None

    def images(self, project: str, tasks: list[dict]) -> list[bytes]:
        """Each task's image file, or b"" where there is none to label."""
        found = []
        for task in tasks:
            try:
                found.append(self.image(project, task))
            except (ImageUnavailable, OSError):
                found.append(b"")
        return found

    def review(self, event: dict) -> int:
        """An annotation of a task labeler exported becomes its reviewer's review."""
        if event.get("action") not in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
            return 0
        data = (event.get("task") or {}).get("data") or {}
        annotation = event.get("annotation") or {}
        label = labelstudio.choice_of(annotation)
        if not (data.get("job") and data.get("path") and label):
            return 0
        job = str(data["job"])
        [index] = self.store.find_items(job, [str(data["path"])])
        if index is None:
            return 0
        author = annotation.get("completed_by")
        if isinstance(author, dict):
            author = author.get("email") or author.get("id")
        return self.store.review_items(job, {index: label}, f"label-studio:{author}")


def add_ml_backend_routes(app: FastAPI, backend: MlBackend) -> None:
    @app.get("/ml/health", summary="Label Studio ML backend: health")
    def health() -> dict:
        return {"status": "UP", "model_class": "labeler"}

    @app.post("/ml/setup", summary="Label Studio ML backend: a project connects")
    async def setup(request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        return JSONResponse(await run_in_threadpool(backend.setup, body))

    @app.post("/ml/predict", summary="Label Studio ML backend: predictions for tasks")
    async def predict(request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        tasks = [t for t in body.get("tasks") or [] if isinstance(t, dict)]
        project = str(body.get("project", ""))
        images = await run_in_threadpool(backend.images, project, tasks)
        try:
            outcomes = await backend.labeller().label(images)
        except RealtimeBusy as exc:
            return JSONResponse({"detail": str(exc)}, status_code=429,
                                headers={"Retry-After": str(exc.retry_after)})
        # A task without an image (or a bad one) gets an empty prediction: one per task.
        return JSONResponse({"results": [
            labelstudio.prediction(o["label"], o["confidence"], o["model"])
            if isinstance(o, dict) else {"result": [], "score": 0.0} for o in outcomes]})

    @app.post("/ml/webhook", summary="Label Studio ML backend: annotation events")
    async def webhook(request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        return JSONResponse({"reviewed": await run_in_threadpool(backend.review, body)})


async def _json(request: Request) -> dict | Response:
    # JSON only: a form on another site cannot send it without a CORS grant it never gets.
    if not request.headers.get("content-type", "").startswith("application/json"):
        return JSONResponse({"detail": "send JSON"}, status_code=415)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"detail": "send a JSON object"}, status_code=422)
    return body

