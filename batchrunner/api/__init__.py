"""HTTP client for the Assistants v2 API: typed models, one place that classifies errors, header parsing."""

from batchrunner.api.client import AssistantsClient, RequestRecord
from batchrunner.api.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestRejectedError,
    RetryableError,
    TransientError,
)
from batchrunner.api.headers import RateLimitInfo
from batchrunner.api.models import ApiResponse, Message, ResponseMeta, Run, RunStep, Thread, ToolOutput

__all__ = [
    "ApiError",
    "ApiResponse",
    "AssistantsClient",
    "AuthenticationError",
    "Message",
    "NotFoundError",
    "QuotaExhaustedError",
    "RateLimitInfo",
    "RateLimitedError",
    "RequestRecord",
    "RequestRejectedError",
    "ResponseMeta",
    "RetryableError",
    "Run",
    "RunStep",
    "Thread",
    "ToolOutput",
    "TransientError",
]
