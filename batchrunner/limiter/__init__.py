"""Fleet-wide rate-limit budget: requests and tokens per minute shared by every worker (DESIGN principle 3).

``RedisBudget`` meters a whole fleet with one atomic Lua script; ``MemoryBudget`` is its in-process twin
for embedded mode. ``bucket`` explains the algorithm.
"""

from batchrunner.limiter.base import (
    DEFAULT_BURST_SECONDS,
    Budget,
    BudgetSnapshot,
    Grant,
    Learning,
    Reservation,
    ServerLimits,
)
from batchrunner.limiter.bucket import RefusalReason
from batchrunner.limiter.memory import MemoryBudget
from batchrunner.limiter.redis import DEFAULT_KEY_PREFIX, RedisBudget, make_budget

__all__ = [
    "DEFAULT_BURST_SECONDS",
    "DEFAULT_KEY_PREFIX",
    "Budget",
    "BudgetSnapshot",
    "Grant",
    "Learning",
    "MemoryBudget",
    "RedisBudget",
    "RefusalReason",
    "Reservation",
    "ServerLimits",
    "make_budget",
]
