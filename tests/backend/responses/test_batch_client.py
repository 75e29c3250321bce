"""``BatchClient`` (Files and Batch APIs) against the simulator on a fake clock, its models, the pipeline's
multipart and raw-bytes calls, and FakeAI as a server nobody here wrote.

Every simulator exchange is also checked against the official OpenAPI document (``SpecChecked``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from batchrunner.api.errors import ApiError, NotFoundError, RequestRejectedError, TransientError
from batchrunner.api.pipeline import ApiPipeline, RequestRecord
from batchrunner.backend.responses.batch_client import (
    BATCH_PATH,
    FILE_CONTENT_PATH,
    FILES_PATH,
    BatchClient,
)
from batchrunner.backend.responses.batch_models import (
    Batch,
    BatchOutputLine,
    BatchStatus,
    DeletedFile,
    FileObject,
    InvalidBatchOutputLine,
    iter_output_lines,
)
from batchrunner.backend.responses.models import Response
from batchrunner.simulator import SimConfig, SyncASGITransport, create_app
from batchrunner.testing.openapi_contract import ContractViolation, PathsContract
from tests.simulator.batchsim import files_contract, jsonl, request_line
from tests.simulator.simhelpers import FakeClock

SECRET = "sk-proj-BATCH-KEY-MUST-NOT-LEAK-7"
THREE = [request_line(f"job-{n}", f"Summarise ticket {n}") for n in range(3)]


@dataclass
class SpecChecked(httpx.BaseTransport):
    """Checks each request's operation, query and JSON body, and each JSON reply, against the spec.

    Unlike ``tests.simulator.batchsim.CheckedTransport`` it reads a request without a body as having none:
    the pipeline sends its ``Content-Type: application/json`` on every request, bodiless ones too. An
    upload's multipart body is the simulator's to check, and file content is not JSON.
    """

    inner: httpx.BaseTransport
    contract: PathsContract
    violations: list[str] = field(default_factory=list)
    checked: int = 0  # bodies and requests validated, so "no violations" cannot mean "nothing checked"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().removeprefix("/v1")
        is_json = _is_json(request.headers)
        response = self.inner.handle_request(request)
        content = response.read()
        try:
            if is_json or not request.content:
                body = json.loads(request.content) if request.content else None
                self.contract.validate_request(request.method, path, body)
                self.checked += 1
            if _is_json(response.headers):
                self.contract.validate_response(request.method, path, response.status_code, json.loads(content))
                self.checked += 1
        except (ContractViolation, ValueError) as violation:
            self.violations.append(f"{request.method} {path}: {violation}")
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)


def _is_json(headers: httpx.Headers) -> bool:
    """Exactly JSON: a downloaded .jsonl file's ``application/jsonl`` is not."""
    content_type: str = headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip() == "application/json"


@dataclass
class Simulated:
    """A ``BatchClient`` on an in-process simulator, its fake clock and the metrics records it reported."""

    client: BatchClient
    clock: FakeClock
    checked: SpecChecked
    records: list[RequestRecord]

    def upload_lines(self, lines: list[dict[str, Any]]) -> FileObject:
        return self.client.upload_file(jsonl(lines), "requests.jsonl").data

    def follow(self, batch_id: str, step: float = 1.0) -> Batch:
        """Advance the clock until the batch is final (as a lane's poller would, without sleeping)."""
        for _ in range(200):
            batch = self.client.retrieve_batch(batch_id).data
            if batch.is_final:
                return batch
            self.clock.advance(step)
        raise AssertionError(f"batch {batch_id} never ended: {batch.status}")

    def lines_of(self, file_id: str | None) -> list[BatchOutputLine]:
        assert file_id is not None
        return list(iter_output_lines(self.client.file_content(file_id), file_id=file_id))


@pytest.fixture
def make_simulated() -> Iterator[Callable[..., Simulated]]:
    """``make_simulated(**SimConfig overrides)``; after the test, every exchange must have matched the spec."""
    built: list[Simulated] = []

    def build(**overrides: Any) -> Simulated:
        clock = FakeClock()
        timings = {"batch_validating_s": 5.0, "batch_line_s": 1.0, "batch_finalizing_s": 5.0}
        app = create_app(SimConfig(**{**timings, **overrides}, clock=clock))
        checked = SpecChecked(SyncASGITransport(app), files_contract())
        records: list[RequestRecord] = []
        client = BatchClient("http://sim.test/v1", SECRET, transport=checked, on_response=records.append)
        built.append(Simulated(client, clock, checked, records))
        return built[-1]

    yield build
    for simulated in built:
        simulated.client.close()
    violations = [violation for simulated in built for violation in simulated.checked.violations]
    assert not violations, "\n".join(violations[:10])
    assert all(simulated.checked.checked > 0 for simulated in built)


@pytest.fixture
def sim(make_simulated: Callable[..., Simulated]) -> Simulated:
    return make_simulated()


# -- against the simulator ------------------------------------------------------------------------


def test_a_three_line_batch_completes_with_one_completed_response_per_custom_id(sim: Simulated) -> None:
    """Upload, create, follow to completed, download: each custom_id once, a 200 completed Response with usage."""
    content = jsonl(THREE)
    upload = sim.client.upload_file(content, "requests.jsonl").data
    assert (upload.purpose, upload.filename, upload.bytes) == ("batch", "requests.jsonl", len(content))
    created = sim.client.create_batch(upload.id, metadata={"batchrunner_job": "b:1"}).data
    assert created.known_status is BatchStatus.VALIDATING and not created.is_final
    assert created.input_file_id == upload.id and created.output_file_id is None

    batch = sim.follow(created.id)

    assert batch.known_status is BatchStatus.COMPLETED and batch.error_file_id is None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (3, 3, 0)
    lines = sim.lines_of(batch.output_file_id)
    assert sorted(line.custom_id for line in lines) == ["job-0", "job-1", "job-2"]
    for line in lines:
        assert line.succeeded and line.response is not None and line.response.status_code == 200
        answer = line.response_body()
        assert answer.status == "completed" and answer.usage is not None and answer.usage.total_tokens > 0
        assert answer.output_text()


def test_failed_lines_are_in_the_error_file_and_every_custom_id_is_answered_once(
    make_simulated: Callable[..., Simulated],
) -> None:
    """With line failures, output and error files together answer each custom_id exactly once; failures are 500s."""
    sim = make_simulated(batch_line_fail_rate=0.5, seed=1)
    batch = sim.follow(sim.client.create_batch(sim.upload_lines(THREE).id).data.id)

    succeeded, failed = sim.lines_of(batch.output_file_id), sim.lines_of(batch.error_file_id)

    assert succeeded and failed, "this seed must give both files"
    answered = [line.custom_id for line in succeeded + failed]
    assert sorted(answered) == ["job-0", "job-1", "job-2"]
    assert (batch.request_counts.completed, batch.request_counts.failed) == (len(succeeded), len(failed))
    for line in failed:
        assert not line.succeeded and line.response is not None and line.response.status_code == 500
        with pytest.raises(ValueError, match=line.custom_id):
            line.response_body()


def test_a_streamed_download_in_small_chunks_reads_the_same_lines_as_a_whole_one(sim: Simulated) -> None:
    """stream_file_content in 7-byte chunks yields the file's bytes, and the parser reassembles every line."""
    batch = sim.follow(sim.client.create_batch(sim.upload_lines(THREE).id).data.id)
    assert batch.output_file_id is not None
    whole = sim.client.file_content(batch.output_file_id)

    with sim.client.stream_file_content(batch.output_file_id, chunk_bytes=7) as chunks:
        pieces = list(chunks)

    assert len(pieces) > 3 and max(map(len, pieces)) <= 7 and b"".join(pieces) == whole
    assert [line.custom_id for line in iter_output_lines(iter(pieces))] == [
        line.custom_id for line in iter_output_lines(whole)
    ]


def test_list_batches_pages_newest_first_and_a_batch_is_found_by_its_metadata(sim: Simulated) -> None:
    """Three batches: pages of one via after=last_id, and the tagged one is recognised by its metadata."""
    file_id = sim.upload_lines(THREE[:1]).id
    ids = [sim.client.create_batch(file_id, metadata={"batchrunner_job": f"b:{n}"}).data.id for n in range(3)]

    seen: list[Batch] = []
    after: str | None = None
    for _ in range(5):
        page = sim.client.list_batches(after=after, limit=1).data
        seen += page.data
        if not page.has_more:
            break
        after = page.last_id

    assert [batch.id for batch in seen] == ids[::-1]
    (tagged,) = [batch for batch in seen if batch.metadata.get("batchrunner_job") == "b:1"]
    assert tagged.id == ids[1]
    with pytest.raises(ValueError, match="limit"):
        sim.client.list_batches(limit=101)


def test_cancel_moves_a_running_batch_to_cancelling_then_cancelled_with_partial_results(sim: Simulated) -> None:
    """Cancelled after 2 of 4 lines: cancelling at once, then cancelled with 2 outputs and 2 batch_cancelled."""
    four = [*THREE, request_line("job-3", "Summarise ticket 3")]
    created = sim.client.create_batch(sim.upload_lines(four).id).data
    sim.clock.advance(7.5)

    cancelling = sim.client.cancel_batch(created.id).data

    assert cancelling.known_status is BatchStatus.CANCELLING and not cancelling.is_final
    batch = sim.follow(created.id)
    assert batch.known_status is BatchStatus.CANCELLED and batch.cancelled_at is not None
    assert len(sim.lines_of(batch.output_file_id)) == 2
    cancelled = sim.lines_of(batch.error_file_id)
    assert [(line.response, line.error and line.error.code) for line in cancelled] == [(None, "batch_cancelled")] * 2


def test_an_unknown_batch_is_not_found_and_the_error_names_the_template_without_the_key(sim: Simulated) -> None:
    """GET /batches/{id} for no such batch raises NotFoundError; metrics name the template, no error the key."""
    with pytest.raises(NotFoundError) as caught:
        sim.client.retrieve_batch("batch_missing")

    assert caught.value.endpoint == BATCH_PATH and caught.value.status_code == 404
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert sim.records[-1].endpoint == BATCH_PATH and sim.records[-1].status_code == 404


def test_downloading_an_unknown_file_is_not_found_whole_or_streamed(sim: Simulated) -> None:
    """file_content and stream_file_content classify a 404 like any call and report it to the metrics hook."""
    with pytest.raises(NotFoundError):
        sim.client.file_content("file-missing")
    with pytest.raises(NotFoundError), sim.client.stream_file_content("file-missing"):
        pytest.fail("a 404 must raise on entering")

    assert [(record.endpoint, record.status_code) for record in sim.records] == [(FILE_CONTENT_PATH, 404)] * 2


def test_a_deleted_file_is_gone(sim: Simulated) -> None:
    """delete_file answers deleted, and the file can no longer be retrieved."""
    upload = sim.upload_lines(THREE[:1])
    assert sim.client.retrieve_file(upload.id).data.id == upload.id

    deleted = sim.client.delete_file(upload.id).data

    assert deleted.deleted and deleted.id == upload.id
    with pytest.raises(NotFoundError):
        sim.client.retrieve_file(upload.id)


def test_an_upload_the_server_refuses_is_a_rejection_naming_the_field(sim: Simulated) -> None:
    """A batch input file not named .jsonl is refused (400, param file): the multipart reply is classified."""
    with pytest.raises(RequestRejectedError) as caught:
        sim.client.upload_file(jsonl(THREE), "requests.txt")

    assert caught.value.status_code == 400 and caught.value.param == "file"
    assert [(record.endpoint, record.method, record.status_code) for record in sim.records] == [
        (FILES_PATH, "POST", 400)
    ]


# -- the pipeline's multipart and raw calls -------------------------------------------------------


def _recording(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[ApiPipeline, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        sent.append(request)
        return handler(request)

    return ApiPipeline("https://api.example/v1", SECRET, transport=httpx.MockTransport(record)), sent


def test_a_multipart_upload_carries_its_own_content_type_while_json_calls_keep_theirs() -> None:
    """files=/data= send multipart/form-data with the boundary used in the body; a JSON call is unchanged."""
    pipeline, sent = _recording(lambda request: httpx.Response(200, json={"id": "file-1"}))

    pipeline.call(
        "POST", FILES_PATH, {}, FileObject, files={"file": ("a.jsonl", b'{"x": 1}\n')}, data={"purpose": "batch"}
    )
    pipeline.call("POST", "/batches", {}, FileObject, json={"input_file_id": "file-1"})

    upload, create = sent
    content_type = upload.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    assert upload.content.count(b"--" + boundary) == 3  # two parts and the closing delimiter
    assert b'name="purpose"\r\n\r\nbatch' in upload.content
    assert b'name="file"; filename="a.jsonl"' in upload.content and b'{"x": 1}\n' in upload.content
    assert upload.headers["authorization"] == f"Bearer {SECRET}"
    assert create.headers["content-type"] == "application/json" and json.loads(create.content) == {
        "input_file_id": "file-1"
    }


def test_a_form_needs_its_files_and_excludes_json() -> None:
    """data= without files= and json= with files= are caller bugs, refused before anything is sent."""
    pipeline, sent = _recording(lambda request: httpx.Response(200, json={"id": "file-1"}))

    with pytest.raises(ValueError, match="files"):
        pipeline.call("POST", FILES_PATH, {}, FileObject, data={"purpose": "batch"})
    with pytest.raises(ValueError, match="not both"):
        pipeline.call("POST", FILES_PATH, {}, FileObject, json={}, files={"file": ("a.jsonl", b"")})
    assert sent == []


def test_a_raw_call_returns_the_bytes_as_sent_and_classifies_a_server_error() -> None:
    """call_raw returns a 2xx body untouched (not JSON), and a 500 raises TransientError without the key."""
    replies = iter(
        [httpx.Response(200, content=b"not json \xff\n"), httpx.Response(500, json={"error": {"message": SECRET}})]
    )
    pipeline, sent = _recording(lambda request: next(replies))

    assert pipeline.call_raw("GET", FILE_CONTENT_PATH, {"file_id": "file-1"}).data == b"not json \xff\n"
    with pytest.raises(TransientError) as caught:
        pipeline.call_raw("GET", FILE_CONTENT_PATH, {"file_id": "file-1"})

    assert SECRET not in str(caught.value) and sent[0].headers["accept"] == "*/*"


class _DropsAfterFirstChunk(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b'{"custom_id": "a"}\n'
        raise httpx.ReadError("connection reset by peer")


def test_a_connection_lost_mid_download_is_a_transient_error_after_the_chunks_read() -> None:
    """stream_raw yields what arrived, then raises the classified TransientError (not httpx's ReadError)."""
    pipeline, _ = _recording(lambda request: httpx.Response(200, stream=_DropsAfterFirstChunk()))
    received: list[bytes] = []

    with (
        pytest.raises(TransientError, match="connection lost while reading") as caught,
        pipeline.stream_raw("GET", FILE_CONTENT_PATH, {"file_id": "file-1"}, chunk_bytes=1) as chunks,
    ):
        for chunk in chunks:
            received.append(chunk)

    assert b"".join(received) == b'{"custom_id": "a"}\n'
    assert caught.value.__context__ is None and caught.value.__cause__ is None


# -- models ---------------------------------------------------------------------------------------


def test_a_batch_with_only_id_and_status_reads_with_zero_counts_and_no_files() -> None:
    """Missing optional fields: counts are zeros, file ids None, metadata empty, errors empty."""
    batch = Batch.model_validate({"id": "batch_1", "status": "in_progress"})

    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (0, 0, 0)
    assert (batch.input_file_id, batch.output_file_id, batch.error_file_id) == (None, None, None)
    assert batch.metadata == {} and batch.errors == [] and batch.created_at is None and batch.usage is None
    assert batch.known_status is BatchStatus.IN_PROGRESS and not batch.is_final


def test_empty_string_and_null_file_ids_and_counts_read_as_none_and_zero() -> None:
    """output_file_id "" and error_file_id null both mean no file; null counts and metadata read as defaults."""
    batch = Batch.model_validate(
        {
            "id": "batch_1",
            "status": "completed",
            "output_file_id": "",
            "error_file_id": None,
            "input_file_id": "file-in",
            "request_counts": {"total": 2, "completed": None, "failed": 2},
            "metadata": None,
            "errors": None,
        }
    )

    assert (batch.output_file_id, batch.error_file_id, batch.input_file_id) == (None, None, "file-in")
    assert (batch.request_counts.completed, batch.request_counts.failed) == (0, 2)
    assert batch.metadata == {} and batch.errors == [] and batch.is_final


def test_an_unknown_status_is_kept_but_neither_known_nor_final_and_extra_fields_survive() -> None:
    """A status the spec does not name stays a string; known_status None, is_final False; unknown keys kept."""
    batch = Batch.model_validate({"id": "batch_1", "status": "paused", "priority": 3})

    assert batch.status == "paused" and batch.known_status is None and not batch.is_final
    assert batch.model_extra == {"priority": 3}


@pytest.mark.parametrize(
    "errors",
    [
        {"object": "list", "data": [{"code": "invalid_json_line", "message": "bad", "line": 2, "param": None}]},
        [{"code": "invalid_json_line", "message": "bad", "line": 2}],
    ],
)
def test_validation_errors_read_from_the_spec_shape_or_a_bare_list(errors: Any) -> None:
    """A failed batch's errors: {object, data} (the spec) or a plain list, each with its line number."""
    batch = Batch.model_validate({"id": "batch_1", "status": "failed", "errors": errors})

    assert [(error.code, error.line) for error in batch.errors] == [("invalid_json_line", 2)]


def test_a_file_object_needs_only_its_id_and_a_deleted_file_without_the_flag_counts_as_deleted() -> None:
    """FileObject accepts a bare id (bytes, purpose... None); DeletedFile defaults deleted to True."""
    upload = FileObject.model_validate({"id": "file-1"})

    assert (upload.bytes, upload.purpose, upload.filename, upload.status) == (None, None, None, None)
    assert DeletedFile.model_validate({"id": "file-1"}).deleted


# -- output file lines ----------------------------------------------------------------------------

OK_LINE = {
    "id": "batch_req_1",
    "custom_id": "café-1",
    "response": {"status_code": 200, "request_id": "req_1", "body": {"id": "resp_1", "status": "completed"}},
    "error": None,
}
EXPIRED_LINE = {"id": "batch_req_2", "custom_id": "b", "response": None, "error": {"code": "batch_expired"}}


def test_output_lines_read_the_same_whole_or_in_chunks_split_inside_characters() -> None:
    """Chunks split anywhere (even inside a UTF-8 character), CRLF endings and blank lines read as whole lines."""
    content = (json.dumps(OK_LINE, ensure_ascii=False) + "\r\n\n" + json.dumps(EXPIRED_LINE)).encode()
    chunks = [content[i : i + 3] for i in range(0, len(content), 3)]

    whole, chunked = list(iter_output_lines(content)), list(iter_output_lines(chunks))

    assert whole == chunked and [line.custom_id for line in whole] == ["café-1", "b"]
    assert whole[0].succeeded and isinstance(whole[0].response_body(), Response)
    assert not whole[1].succeeded and whole[1].error is not None and whole[1].error.code == "batch_expired"


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        (b'{"custom_id": "c", "response": ', "not JSON"),
        (b'["c"]', "not a JSON object"),
        (json.dumps({**OK_LINE, "custom_id": ""}).encode(), "no custom_id"),
        (json.dumps({"response": None}).encode(), "no custom_id"),
        (json.dumps({**OK_LINE, "response": {"body": {}}}).encode(), "response.status_code"),
    ],
)
def test_an_unreadable_line_raises_naming_its_number_after_the_lines_before_it(bad_line: bytes, problem: str) -> None:
    """The first good line is yielded; the bad third line (after a blank one) raises InvalidBatchOutputLine."""
    content = json.dumps(EXPIRED_LINE).encode() + b"\n\n" + bad_line + b"\n" + json.dumps(OK_LINE).encode()
    read: list[str] = []

    with pytest.raises(InvalidBatchOutputLine) as caught:
        read.extend(line.custom_id for line in iter_output_lines(content, file_id="file-out"))

    assert read == ["b"] and caught.value.line_number == 3 and caught.value.file_id == "file-out"
    assert isinstance(caught.value, ApiError) and problem in str(caught.value)
    assert str(caught.value).startswith("line 3 of file file-out: ")


# -- aimock, a server nobody here wrote -----------------------------------------------------------


@pytest.mark.e2e
def test_aimock_takes_an_upload_and_runs_a_batch_of_responses_lines(aimock_url: str) -> None:
    """Upload a file of /v1/responses lines to aimock, create, list and follow the batch, read its output.

    aimock advances a batch on each retrieve (validating, in_progress, completed) and answers every line
    with a fixed completed response.
    """
    with BatchClient(aimock_url, "sk-independent", timeout=30.0) as client:
        content = jsonl(THREE)
        upload = client.upload_file(content, "requests.jsonl").data
        assert upload.id and client.file_content(upload.id) == content
        created = client.create_batch(upload.id, metadata={"batchrunner_job": "b:aimock"}).data
        assert created.id in [batch.id for batch in client.list_batches(limit=10).data.data]
        batch = created
        for _ in range(10):
            if batch.is_final:
                break
            batch = client.retrieve_batch(created.id).data
        assert batch.status == "completed" and batch.output_file_id
        assert batch.request_counts.total == len(THREE)
        with client.stream_file_content(batch.output_file_id) as chunks:
            lines = list(iter_output_lines(chunks, file_id=batch.output_file_id))
    assert sorted(line.custom_id for line in lines) == sorted(line["custom_id"] for line in THREE)
    assert all(line.succeeded and line.response_body().status == "completed" for line in lines)
