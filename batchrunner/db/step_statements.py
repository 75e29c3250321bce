"""The statements a worker's step sends, each built once per shape and then run with plain parameters.

Building a statement per call cost a step more CPU (coercing its values, generating its cache key)
than the database spent running it. Every value here is a bound parameter, so one statement object
serves every job: a compare-and-set of a job is keyed by the columns it sets, an update of an API
object likewise.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Update, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from batchrunner.db.models import ApiObject, AssistantRunStep, Job, Message, ResponseOutputItem, ToolInvocation

# Parameter names of the compare-and-set's WHERE clause and of the new version.
JOB_ID = "job_id"
VERSION = "version_seen"
NEW_VERSION = "version_new"
API_ID = "api_id_seen"
_SUMMED = ("prompt_tokens", "completion_tokens", "total_tokens")


def set_parameter(column: str) -> str:
    """The name of the parameter a column's new value is sent in (a bound name may not be a column's)."""
    return f"set_{column}"


def parameters(values: dict[str, Any], **where: Any) -> dict[str, Any]:
    """The parameters of an update keyed by ``values``' columns, with its WHERE clause's."""
    return {**{set_parameter(column): value for column, value in values.items()}, **where}


def _usage_sum(column: Any) -> Any:
    return select(func.coalesce(func.sum(column), 0)).where(ApiObject.job_id == bindparam(JOB_ID)).scalar_subquery()


@lru_cache(maxsize=256)
def job_compare_and_set(columns: tuple[str, ...], *, sum_usage: bool = False) -> Update:
    """Set ``columns`` (and the next version) of the job at the version seen; ``sum_usage`` also sets
    the job's token counts to the sums over its API objects."""
    values: dict[str, Any] = {column: bindparam(set_parameter(column)) for column in columns}
    if sum_usage:
        values.update({column: _usage_sum(getattr(ApiObject, column)) for column in _SUMMED})
    return (
        update(Job)
        .where(Job.id == bindparam(JOB_ID), Job.version == bindparam(VERSION))
        .values(version=bindparam(NEW_VERSION), **values)
    )


@lru_cache(maxsize=64)
def object_update(columns: tuple[str, ...]) -> Update:
    """Set ``columns`` of the API object whose id is ``API_ID``; returns its key."""
    return (
        update(ApiObject)
        .where(ApiObject.api_id == bindparam(API_ID))
        .values({column: bindparam(set_parameter(column)) for column in columns})
        .returning(ApiObject.id)
    )


@lru_cache(maxsize=16)
def insert_ignoring(table: Any, postgres: bool, conflict_columns: tuple[str, ...]) -> Insert:
    """An insert of ``table`` rows that skips a row whose ``conflict_columns`` are taken."""
    dialect_insert = pg_insert if postgres else sqlite_insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))


def insert_api_object(postgres: bool) -> Insert:
    return insert_ignoring(ApiObject, postgres, ("api_id",))


def insert_steps(postgres: bool) -> Insert:
    return insert_ignoring(AssistantRunStep, postgres, ("api_step_id",))


def insert_output_items(postgres: bool) -> Insert:
    return insert_ignoring(ResponseOutputItem, postgres, ("object_pk", "position"))


def insert_messages(postgres: bool) -> Insert:
    return insert_ignoring(Message, postgres, ("api_message_id",))


INSERT_TOOL_INVOCATIONS = insert(ToolInvocation)
OBJECT_KEY = select(ApiObject.id).where(ApiObject.api_id == bindparam(API_ID))


def columns_of(values: Iterable[str]) -> tuple[str, ...]:
    """The cache key of a statement setting ``values``: their columns in a stable order."""
    return tuple(sorted(values))


__all__ = [
    "API_ID",
    "INSERT_TOOL_INVOCATIONS",
    "JOB_ID",
    "NEW_VERSION",
    "OBJECT_KEY",
    "VERSION",
    "columns_of",
    "insert_api_object",
    "insert_messages",
    "insert_output_items",
    "insert_steps",
    "job_compare_and_set",
    "object_update",
    "parameters",
    "set_parameter",
]
