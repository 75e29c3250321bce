"""The thread a job starts: ``CreateThreadRequest`` and ``CreateMessageRequest`` of the OpenAPI spec."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from batchrunner.jobfile.fields import (
    ERROR_AT,
    NOT_NULL,
    URL_PATTERN,
    Detail,
    Metadata,
    NonEmptyStr,
    StrictModel,
    TaggedMetadata,
    string_or_parts_tag,
    tag_by_type,
    tagged_union,
    union_tag,
)

# --- Messages--------------------------------------------------------------------------------


class TextPart(StrictModel):
    type: Literal["text"]
    text: NonEmptyStr


class ImageFileRef(StrictModel):
    file_id: NonEmptyStr
    detail: Annotated[Detail | None, NOT_NULL] = None


class ImageFilePart(StrictModel):
    type: Literal["image_file"]
    image_file: ImageFileRef


class ImageUrlRef(StrictModel):
    url: Annotated[str, StringConstraints(pattern=URL_PATTERN)]
    detail: Annotated[Detail | None, NOT_NULL] = None


class ImageUrlPart(StrictModel):
    type: Literal["image_url"]
    image_url: ImageUrlRef


ContentPart = Annotated[
    Annotated[TextPart, union_tag("text")]
    | Annotated[ImageFilePart, union_tag("image_file")]
    | Annotated[ImageUrlPart, union_tag("image_url")],
    tagged_union(
        tag_by_type("text", "image_file", "image_url"),
        "a content part with type 'text', 'image_file' or 'image_url'",
    ),
]


MessageContent = Annotated[
    Annotated[NonEmptyStr, union_tag("string")] | Annotated[list[ContentPart], Field(min_length=1), union_tag("parts")],
    tagged_union(string_or_parts_tag, "a string or an array of content parts"),
]


class CodeInterpreterTool(StrictModel):
    type: Literal["code_interpreter"]


class FileSearchTypeOnly(StrictModel):
    type: Literal["file_search"]


AttachmentTool = Annotated[
    Annotated[CodeInterpreterTool, union_tag("code_interpreter")]
    | Annotated[FileSearchTypeOnly, union_tag("file_search")],
    tagged_union(
        tag_by_type("code_interpreter", "file_search"),
        "a tool with type 'code_interpreter' or 'file_search'",
    ),
]


class Attachment(StrictModel):
    file_id: NonEmptyStr
    tools: list[AttachmentTool]


class MessageRequest(StrictModel):
    role: Literal["user", "assistant"]
    content: MessageContent
    attachments: list[Attachment] | None = None
    metadata: Metadata | None = None


# --- Thread -----------------------------------------------------------------------------------


class CodeInterpreterResources(StrictModel):
    file_ids: Annotated[Annotated[list[str], Field(max_length=20)] | None, NOT_NULL] = None


class AutoChunking(StrictModel):
    type: Literal["auto"]


class StaticChunkingOptions(StrictModel):
    max_chunk_size_tokens: Annotated[int, Field(ge=100, le=4096)]
    chunk_overlap_tokens: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _overlap_at_most_half(self) -> StaticChunkingOptions:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise PydanticCustomError(
                "overlap_too_large",
                "must not exceed half of max_chunk_size_tokens ({half})",
                {"half": self.max_chunk_size_tokens // 2, ERROR_AT: ("chunk_overlap_tokens",)},
            )
        return self


class StaticChunking(StrictModel):
    type: Literal["static"]
    static: StaticChunkingOptions


ChunkingStrategy = Annotated[
    Annotated[AutoChunking, union_tag("auto")] | Annotated[StaticChunking, union_tag("static")],
    tagged_union(tag_by_type("auto", "static"), "a chunking strategy with type 'auto' or 'static'"),
]


class VectorStoreHelper(StrictModel):
    file_ids: Annotated[list[str] | None, NOT_NULL] = None
    chunking_strategy: Annotated[ChunkingStrategy | None, NOT_NULL] = None
    metadata: Metadata | None = None


class FileSearchResources(StrictModel):
    vector_store_ids: Annotated[Annotated[list[str], Field(max_length=1)] | None, NOT_NULL] = None
    vector_stores: Annotated[Annotated[list[VectorStoreHelper], Field(max_length=1)] | None, NOT_NULL] = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> FileSearchResources:
        if (self.vector_store_ids is None) == (self.vector_stores is None):
            raise PydanticCustomError("one_of", "must have exactly one of vector_store_ids and vector_stores")
        return self


class ToolResources(StrictModel):
    code_interpreter: Annotated[CodeInterpreterResources | None, NOT_NULL] = None
    file_search: Annotated[FileSearchResources | None, NOT_NULL] = None


class ThreadRequest(StrictModel):
    messages: Annotated[list[MessageRequest] | None, NOT_NULL] = None
    tool_resources: ToolResources | None = None
    metadata: TaggedMetadata = None
