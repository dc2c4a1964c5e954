"""`POST /api/label`: one or a few images labelled while the client waits (web/realtime.py)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from labeler.imaging import MAX_FILE_BYTES
from labeler.web.realtime import RealtimeBusy, RealtimeLabeller, records

MAX_IMAGES = 16  # a request's images; more is a job (POST /api/jobs)

LABEL_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": f"up to {MAX_IMAGES} images"}}}},
    "image/*": {"schema": {"type": "string", "format": "binary"}}}}}


def add_realtime_routes(app: FastAPI, labeller) -> None:
    """`labeller` is called for the RealtimeLabeller when the first request comes."""

    @app.post("/api/label", summary="Label one or a few images now (multipart files, or "
              "the image as the body)", openapi_extra=LABEL_BODY)
    async def label(request: Request) -> Response:
        realtime: RealtimeLabeller = labeller()
        images = await _images(request)
        if isinstance(images, Response):
            return images
        try:
            outcomes = await realtime.label([data for _, data in images])
        except RealtimeBusy as exc:
            return _busy(exc)
        return JSONResponse({"results": records([name for name, _ in images], outcomes)})


async def _images(request: Request) -> list[tuple[str, bytes]] | Response:
    """(name, bytes) of the request's images, or the response that refuses them."""
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_IMAGES * MAX_FILE_BYTES:
        return _refuse(413, "too large for a real-time request: submit a job")
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form(max_files=MAX_IMAGES + 1)
        files = form.getlist("files")
        images = [(f.filename or f"image-{n}", await f.read()) for n, f in enumerate(files)
                  if hasattr(f, "read")]
    else:
        images = [(request.headers.get("x-filename") or "image", await request.body())]
    if not images or not any(data for _, data in images):
        return _refuse(422, "send images as multipart 'files', or one image as the body")
    if len(images) > MAX_IMAGES:
        return _refuse(413, f"at most {MAX_IMAGES} images a request: submit a job for more")
    return images


def _refuse(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status)


def _busy(exc: RealtimeBusy) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=429,
                        headers={"Retry-After": str(exc.retry_after)})
