"""A faithful, deterministic local server of the OpenAI Assistants v2 API (DESIGN principle 8).

`create_app(SimConfig(...))` builds the ASGI app; `serve` runs it with uvicorn; `BackgroundSimulator`
serves it from a thread; `SyncASGITransport` lets a synchronous httpx client call it in-process.
"""

from batchrunner.simulator.app import create_app
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.server import BackgroundSimulator, serve
from batchrunner.simulator.transport import SyncASGITransport

__all__ = ["BackgroundSimulator", "SimConfig", "SyncASGITransport", "create_app", "serve"]
