"""The bare baseline of bench/app_bench.py: hello-world ASGI on the app's own uvicorn settings.

`python -m bench.hello_asgi PORT`, from the repository root, serves it on 127.0.0.1:PORT
until SIGTERM.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.types import Receive, Scope, Send

from app.server import server_config

BODY = b'{"hello":"world"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    port = int(sys.argv[1])
    uvicorn.Server(server_config(hello, host="127.0.0.1", port=port, shutdown_timeout_s=5)).run()
