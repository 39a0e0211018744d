"""The one HTTP port: health, readiness and metrics (and, mounted by their owners, the
preference API, the residents' pages and the provider webhooks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, FastAPI, Response

from notifier import metrics

Check = Callable[[], Awaitable[bool]]


def create_app(
    *, checks: dict[str, Check] | None = None, routers: Sequence[APIRouter] = ()
) -> FastAPI:
    """The service's FastAPI app; ``checks`` decide readiness (e.g. broker, database) and
    ``routers`` are mounted as they are (the APIs, pages and webhooks)."""
    app = FastAPI(title="notifier", version="1", docs_url=None, redoc_url=None)
    for router in routers:
        app.include_router(router)
    readiness = checks or {}

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(response: Response) -> dict[str, object]:
        results = {name: await check() for name, check in readiness.items()}
        ready = all(results.values())
        response.status_code = 200 if ready else 503
        return {"status": "ready" if ready else "not ready", "checks": results}

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    return app
