"""The Files API: multipart upload, retrieve, raw content, delete, and the upload's 400s."""

from __future__ import annotations

import pytest

from tests.simulator.batchsim import BSim, jsonl, request_line


def test_upload_retrieve_download_and_delete_a_batch_file(bsim: BSim) -> None:
    """An uploaded .jsonl keeps its exact bytes, reports its size and 30-day expiry, and is gone once deleted."""
    content = jsonl([request_line("a", "Hello"), request_line("b", "Bye")]) + b"\r\n"
    created = bsim.upload(content)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["id"].startswith("file-") and body["object"] == "file"
    assert (body["bytes"], body["filename"], body["purpose"]) == (len(content), "requests.jsonl", "batch")
    assert body["expires_at"] - body["created_at"] == 30 * 86_400
    assert bsim.client.get(f"/files/{body['id']}").json() == body
    assert bsim.client.get(f"/files/{body['id']}/content").content == content
    deleted = bsim.client.delete(f"/files/{body['id']}")
    assert deleted.json() == {"id": body["id"], "object": "file", "deleted": True}
    missing = bsim.client.get(f"/files/{body['id']}")
    assert missing.status_code == 404 and body["id"] in missing.json()["error"]["message"]
    assert bsim.stats()["files_created"] == 1


def test_files_of_other_purposes_do_not_expire(bsim: BSim) -> None:
    """A user_data file is kept until deleted: no expires_at."""
    body = bsim.upload(b"notes", filename="notes.txt", purpose="user_data").json()
    assert body["purpose"] == "user_data" and "expires_at" not in body


@pytest.mark.parametrize(
    ("purpose", "filename", "param"),
    [
        ("training", "requests.jsonl", "purpose"),
        ("batch", "requests.csv", "file"),
    ],
)
def test_upload_refuses_a_bad_purpose_or_a_batch_file_that_is_not_jsonl(
    bsim: BSim, purpose: str, filename: str, param: str
) -> None:
    """An unknown purpose, or a batch file not named .jsonl, is a 400 naming the field."""
    response = bsim.upload(b"{}\n", filename=filename, purpose=purpose)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_upload_needs_a_multipart_form_with_file_and_purpose(bsim: BSim) -> None:
    """JSON instead of a form, a missing purpose, or a missing file part are 400s."""
    as_json = bsim.client.post("/files", json={"purpose": "batch"})
    assert as_json.status_code == 400 and "multipart/form-data" in as_json.json()["error"]["message"]
    no_purpose = bsim.client.post("/files", files={"file": ("a.jsonl", b"{}")})
    assert no_purpose.status_code == 400 and no_purpose.json()["error"]["param"] == "purpose"
    no_file = bsim.client.post("/files", files={"other": ("a.jsonl", b"{}")}, data={"purpose": "batch"})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "other"
    text_file = bsim.client.post("/files", files={"file": (None, b"inline")}, data={"purpose": "batch"})
    assert text_file.status_code == 400 and text_file.json()["error"]["param"] == "file"
