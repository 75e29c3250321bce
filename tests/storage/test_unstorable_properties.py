"""Property tests on Postgres: whatever text a job line or an API or tool payload holds, nothing crashes.

A job line is refused (naming the field) or accepted, and an accepted one is stored; a payload is
stored, with exactly the unstorable characters replaced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select

from batchrunner.db.engine import make_engine, make_session_factory
from batchrunner.db.models import ApiObject, Batch, Job, ResponseOutputItem, ToolInvocation
from batchrunner.db.repository import Repository
from batchrunner.jobfile.errors import LineErrors
from batchrunner.jobfile.reader import parse_job_line
from batchrunner.storable_text import REPLACEMENT, UNSTORABLE

# Any code point, surrogates included, with the troublesome ones drawn often.
TEXT = st.text(
    alphabet=st.one_of(st.characters(exclude_categories=()), st.sampled_from(["\x00", "\ud800", "\udfff", "\\"])),
    max_size=40,
)
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), TEXT),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def parents(engine: Engine) -> tuple[int, int]:
    """A job and an API object of it, for payload rows to belong to: (job id, object pk)."""
    spec = parse_job_line(_line("parent", "hi", "k", "v"), 1)
    _, (job_id,) = Repository(make_session_factory(engine)).add_batch_jobs("parents", [spec])
    with engine.begin() as connection:
        object_pk = connection.scalar(
            insert(ApiObject)
            .values(job_id=job_id, attempt=1, backend="responses", kind="response", api_id="resp_1", status="done")
            .returning(ApiObject.id)
        )
    assert object_pk is not None
    return job_id, object_pk


def _line(custom_id: str, content: str, key: str, value: Any) -> str:
    body = {
        "custom_id": custom_id,
        "assistant_id": "asst_support",
        "thread": {"messages": [{"role": "user", "content": content}]},
        "params": {"metadata": {key: value}},
    }
    return json.dumps(body)  # ASCII: NUL and surrogates travel as \\u escapes, as in a real file


@PROPERTY_SETTINGS
@given(custom_id=TEXT, content=TEXT, key=TEXT, value=TEXT)
def test_a_job_line_is_refused_by_field_or_stored(
    engine: Engine, custom_id: str, content: str, key: str, value: str
) -> None:
    line = _line(custom_id or "x", content or "hi", key or "k", value)
    holds_unstorable = any(UNSTORABLE.search(text) for text in (custom_id, content, key, value))
    try:
        spec = parse_job_line(line, 3)
    except LineErrors as refused:
        assert all(error.line_no == 3 for error in refused.errors)
        assert holds_unstorable or any(error.field != "" for error in refused.errors)
        return
    assert not holds_unstorable, "unstorable text passed validation"
    repository = Repository(make_session_factory(engine))
    batch_id, new_ids = repository.add_batch_jobs(f"prop-{id(spec)}", [spec])
    with engine.connect() as connection:
        stored = connection.scalar(select(Job.custom_id).where(Job.id == new_ids[0]))
        connection.execute(delete(Job).where(Job.batch_id == batch_id))
        connection.execute(delete(Batch).where(Batch.id == batch_id))
        connection.commit()
    assert stored == spec.custom_id


def _expected(value: Any) -> Any:
    if isinstance(value, str):
        return UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, list):
        return [_expected(item) for item in value]
    if isinstance(value, dict):
        return {_expected(key): _expected(item) for key, item in value.items()}
    return value


@PROPERTY_SETTINGS
@given(output=TEXT, item=st.dictionaries(TEXT, JSON_VALUE, max_size=4))
def test_api_and_tool_payloads_are_stored_with_exactly_the_unstorable_characters_replaced(
    engine: Engine, parents: tuple[int, int], output: str, item: dict[str, Any]
) -> None:
    job_id, object_pk = parents
    expected_item = _expected(item)
    if len(expected_item) != len(item):  # two keys that differ only in what is replaced: one JSON key
        return
    with engine.begin() as connection:
        tool_pk = connection.scalar(
            insert(ToolInvocation)
            .values(
                job_id=job_id,
                object_pk=object_pk,
                tool_call_id="call_1",
                name="t",
                arguments="{}",
                output=output,
                error=output,
                outcome="ok",
                started_at=datetime.now(UTC),
                duration_seconds=0.0,
            )
            .returning(ToolInvocation.id)
        )
        item_pk = connection.scalar(
            insert(ResponseOutputItem)
            .values(object_pk=object_pk, position=0, type="message", item=item)
            .returning(ResponseOutputItem.id)
        )
    with engine.begin() as connection:
        stored_output, stored_error = connection.execute(
            select(ToolInvocation.output, ToolInvocation.error).where(ToolInvocation.id == tool_pk)
        ).one()
        stored_item = connection.scalar(select(ResponseOutputItem.item).where(ResponseOutputItem.id == item_pk))
        connection.execute(delete(ToolInvocation).where(ToolInvocation.id == tool_pk))
        connection.execute(delete(ResponseOutputItem).where(ResponseOutputItem.id == item_pk))
    assert stored_output == stored_error == _expected(output)
    assert stored_item == expected_item
