"""A Postgres cluster of one test's own: its own data directory and port, started, restarted, removed.

The restart test restarts this cluster, never the machine's shared server. The server binaries come
from ``pg_config --bindir`` or Debian's ``/usr/lib/postgresql/<version>/bin``; as root (initdb refuses
to run as root) the cluster runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from batchrunner.testing.processes import free_port


def server_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are, or None on a machine without the server."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if found:
            candidates.append(Path(found))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((path for path in candidates if (path / "initdb").is_file() and (path / "pg_ctl").is_file()), None)


def _run_as() -> list[str]:
    """The prefix that runs a server command as an unprivileged user (initdb refuses root)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    assert runuser is not None, "running as root needs runuser to start Postgres as the postgres user"
    return [runuser, "-u", "postgres", "--"]


def can_run_private_postgres() -> bool:
    if server_bindir() is None:
        return False
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return shutil.which("runuser") is not None


class PrivatePostgres:
    """``with PrivatePostgres() as server:`` an initialised, running cluster on 127.0.0.1:``server.port``."""

    def __init__(self) -> None:
        bindir = server_bindir()
        assert bindir is not None, "no Postgres server binaries (initdb, pg_ctl) on this machine"
        self._bindir = bindir
        self._root = Path(tempfile.mkdtemp(prefix="batchrunner-pg-"))
        self._data = self._root / "data"
        self.port = free_port()

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _server(self, *argv: str, timeout: float = 120) -> None:
        command = [*_run_as(), str(self._bindir / argv[0]), *argv[1:]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr or result.stdout}")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        log = self._root / "server.log"
        options = f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._server("pg_ctl", "-D", str(self._data), "-l", str(log), "-o", options, "-w", *extra, action)

    def __enter__(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self._root, user="postgres", group="postgres")
        self._server("initdb", "-D", str(self._data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._pg_ctl("start")
        return self

    def restart(self) -> float:
        """Restart the server (a fast shutdown: connections are cut) and return the seconds it took."""
        started = time.monotonic()
        self._pg_ctl("restart", "-m", "fast")
        return time.monotonic() - started

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)
