"""What crash tests observe from outside: metrics, listening sockets, worker logs, the Postgres server."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")
_LISTEN = "0A"
_RETRY_LINE = re.compile(r"; retry (\d+) in ")


def scrape_metrics(port: int, *, timeout: float = 20) -> str:
    """The text of a worker's metrics endpoint (it may take a moment to come up after the worker starts)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            response.raise_for_status()
            return response.text
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def metric_total(text: str, name: str) -> float:
    """The sum of every sample of ``name`` (all label sets) in a Prometheus exposition text."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match and match.group("name") == name:
            total += float(match.group("value"))
    return total


def retry_numbers(log_text: str) -> list[int]:
    """The retry numbers of every "retry N in ..." line the state machine logged."""
    return [int(number) for number in _RETRY_LINE.findall(log_text)]


def _hex_to_ipv4(hex_address: str) -> str:
    packed = bytes.fromhex(hex_address)
    return socket.inet_ntoa(packed[::-1])


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port``, from /proc/net/tcp and tcp6."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != _LISTEN or int(port_hex, 16) != port:
                continue
            if len(address) == 8:
                found.add(_hex_to_ipv4(address))
            else:
                found.add("::" if set(address) == {"0"} else address.lower())
    return found


def non_loopback_ipv4() -> str | None:
    """This machine's address on its default route, or None when it has none (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False
