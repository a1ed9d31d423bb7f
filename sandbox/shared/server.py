"""Serving imitations with uvicorn: in the foreground (the CLI) or in a thread (tests, benches)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from sandbox.shared.tls import TlsFiles


@dataclass
class Listener:
    """One imitation on one socket; `port=0` picks a free port (read it back from `.port`)."""

    app: ASGIApp
    host: str = "127.0.0.1"
    port: int = 0
    tls: TlsFiles | None = None
    sock: socket.socket | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def bind(self) -> None:
        """Bind now, so a port clash is reported before anything starts and port 0 resolves."""
        # IPPROTO_TCP explicitly: asyncio only disables Nagle on sockets whose protocol says TCP.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: without it, Nagle + delayed ACK add ~40 ms to every
        # request after the first on a kept-alive connection.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "stop whatever uses that port or choose another"
            ) from exc
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        self.sock = sock

    def server(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="none",
            http="httptools",
            timeout_keep_alive=30,
            date_header=False,  # the apps stamp `Date` on the sandbox clock (`DateHeader`)
            # Kept-alive TLS clients must not hold a shutdown (SIGTERM) open indefinitely.
            timeout_graceful_shutdown=3,
            ssl_certfile=str(self.tls.server_cert) if self.tls else None,
            ssl_keyfile=str(self.tls.server_key) if self.tls else None,
        )
        return _QuietServer(config)


class _QuietServer(uvicorn.Server):
    """Leaves signals to the caller: several servers share one loop and one shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    listeners: Sequence[Listener],
    *,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    stop: asyncio.Event | None = None,
) -> None:
    """Serve every listener (and run background tasks) until `stop` is set."""
    stop = stop or asyncio.Event()
    servers = [listener.server() for listener in listeners]
    for listener in listeners:
        if listener.sock is None:
            listener.bind()
    tasks = [
        asyncio.create_task(server.serve(sockets=[listener.sock]))  # type: ignore[list-item]
        for server, listener in zip(servers, listeners, strict=True)
    ]
    tasks += [asyncio.create_task(job()) for job in background]
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.should_exit = True
        for task in tasks[len(servers) :]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.contextmanager
def serve_in_thread(
    listeners: Sequence[Listener],
    *,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
) -> Iterator[Sequence[Listener]]:
    """Serve on real loopback sockets from a daemon thread; yields once every port accepts."""
    for listener in listeners:
        if listener.sock is None:
            listener.bind()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            loop.call_soon(ready.set)
            await serve(listeners, background=background, stop=stop)

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="sandbox", daemon=True)
    thread.start()
    ready.wait(timeout=30)
    if failure:
        raise RuntimeError("sandbox failed to start") from failure[0]
    try:
        yield listeners
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
