"""uvicorn settings in one place: the benchmark's bare baseline runs on the very same ones."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

# Longer than the ALB's idle timeout (60 s): the ALB, not the app, closes idle keep-alive
# connections, so it never sends a request on a connection the app is closing (a 502).
KEEP_ALIVE_S = 65


def server_config(app: ASGIApp, *, host: str, port: int, shutdown_timeout_s: int) -> uvicorn.Config:
    """One worker process (ECS scales by tasks); graceful shutdown bounded under stopTimeout."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        lifespan="off",  # the caller opens the database before serving and closes it after
        log_config=None,  # logging is configured by app.logs (JSON on stdout)
        access_log=False,  # app.web.RequestLog writes the request lines
        server_header=False,
        proxy_headers=True,  # scheme and client address from the ALB's X-Forwarded-* headers
        forwarded_allow_ips="*",  # only the ALB reaches a task (security groups)
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=shutdown_timeout_s,
    )
