"""What every backend shares: the request pipeline, the one error classifier, header parsing and SSE.

Each backend's client, models and streams live in its package (``batchrunner.backend.assistants``,
``batchrunner.backend.responses``).
"""

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
from batchrunner.api.models import ApiResponse, ResponseMeta
from batchrunner.api.pipeline import RequestRecord

__all__ = [
    "ApiError",
    "ApiResponse",
    "AuthenticationError",
    "NotFoundError",
    "QuotaExhaustedError",
    "RateLimitInfo",
    "RateLimitedError",
    "RequestRecord",
    "RequestRejectedError",
    "ResponseMeta",
    "RetryableError",
    "TransientError",
]
