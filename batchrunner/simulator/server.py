"""Serving the simulator over HTTP with uvicorn: blocking (`serve`) or in a thread (`BackgroundSimulator`)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from batchrunner.simulator.app import create_app
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.errors import DroppedConnection

STARTUP_TIMEOUT_SECONDS = 10.0


class _HideInjectedDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every connection the simulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


def _quiet_drops() -> None:
    error_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _HideInjectedDrops) for existing in error_logger.filters):
        error_logger.addFilter(_HideInjectedDrops())


def serve(host: str, port: int, config: SimConfig) -> None:
    """Serve the simulator on host:port until interrupted."""
    _quiet_drops()
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")


class BackgroundSimulator:
    """A simulator served by uvicorn in a daemon thread, for tests, benchmarks and `run --simulate`.

    Use as a context manager, or call `start()` and `stop()`. Port 0 picks a free port.
    """

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimConfig()
        self.app = create_app(self.config)
        self._host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        """http://host:port (where /_sim/stats lives)."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL, http://host:port/v1."""
        return f"{self.root_url}/v1"

    def start(self) -> BackgroundSimulator:
        """Start serving; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        _quiet_drops()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="batchrunner-simulator",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator's server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        if self._thread is not None:
            self.app.state.simulator.stopping.set()  # open run streams end instead of holding the shutdown
            self._server.should_exit = True
            self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> BackgroundSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
