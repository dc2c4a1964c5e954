"""The page's review routes: correct or accept labels, accept every label above a confidence
(counted first), and download the reviewed labels as a manifest. Each review records who
(the signed-in user; "local" on a server without sign-in) and when."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from labeler.errors import UsageError
from labeler.job_reviews import reviewed_csv
from labeler.store import JobStore


class ReviewBody(BaseModel):
    labels: dict[int, str] = Field(description="item index -> the right class")


class AcceptBody(BaseModel):
    above: float = Field(ge=0, le=1, description="accept labels at least this confident")


def reviewer(request: Request) -> str:
    return getattr(request.state, "user", None) or "local"


def add_review_routes(app: FastAPI, store: JobStore) -> None:
    def job(job_id: str) -> None:
        store.require(job_id)

    @app.post("/api/jobs/{job_id}/reviews", summary="Correct or accept labels, by item index")
    def review(job_id: str, body: ReviewBody, request: Request) -> dict:
        job(job_id)
        try:
            done = store.review_items(job_id, body.labels, reviewer(request))
        except UsageError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"reviewed": done, **store.review_counts(job_id)}

    @app.get("/api/jobs/{job_id}/accept", summary="How many labels an accept above would take")
    def acceptable(job_id: str, above: float = Query(ge=0, le=1)) -> dict:
        job(job_id)
        return {"count": store.acceptable(job_id, above)}

    @app.post("/api/jobs/{job_id}/accept",
              summary="Accept every label not reviewed yet at least this confident")
    def accept(job_id: str, body: AcceptBody, request: Request) -> dict:
        job(job_id)
        accepted = store.accept_above(job_id, body.above, reviewer(request))
        return {"accepted": accepted, **store.review_counts(job_id)}

    @app.api_route("/api/jobs/{job_id}/reviewed.csv", methods=["GET", "HEAD"],
                   summary="The reviewed labels as a manifest for labeler train")
    def reviewed(job_id: str) -> StreamingResponse:
        job(job_id)
        return StreamingResponse(reviewed_csv(store, job_id), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{job_id}-reviewed.csv"'})
