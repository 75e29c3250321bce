"""Reading a `multipart/form-data` body (a file upload) with the standard library only.

Starlette's `request.form()` needs the optional `python-multipart` package; the simulator reads the
raw body itself instead, so uploads work without that dependency. Only what `POST /files` sends is
modelled: named fields, text or file, each in one part (no nested multipart, no transfer encodings).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from batchrunner.simulator.errors import APIError


@dataclass(frozen=True)
class FormPart:
    """One field of the form: its text or bytes, and the file name when it is a file."""

    name: str
    content: bytes
    filename: str | None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def is_multipart(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


def _boundary(content_type: str) -> bytes:
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise APIError(400, "Could not parse multipart form: the Content-Type header names no boundary.")
    return boundary.encode("latin-1")


def _part(raw: bytes) -> FormPart | None:
    head, separator, content = raw.partition(b"\r\n\r\n")
    if not separator:
        raise APIError(400, "Could not parse multipart form: a part has no header block.")
    headers = Message()
    for line in head.decode("utf-8", errors="replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip()] = value.strip()
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        return None
    filename = headers.get_param("filename", header="content-disposition")
    return FormPart(name, content, filename if isinstance(filename, str) else None)


def parse_form(content_type: str, body: bytes) -> dict[str, FormPart]:
    """The fields of a multipart body by name (the last part wins when a name repeats)."""
    delimiter = b"--" + _boundary(content_type)
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise APIError(400, "Could not parse multipart form: the body does not end with its closing boundary.")
    fields: dict[str, FormPart] = {}
    for chunk in chunks[1:-1]:
        # Each part sits between "\r\n" after a delimiter and "\r\n" before the next one.
        part = _part(chunk.removeprefix(b"\r\n").removesuffix(b"\r\n"))
        if part is not None:
            fields[part.name] = part
    return fields
