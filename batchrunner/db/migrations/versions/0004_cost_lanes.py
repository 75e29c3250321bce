"""Cost lanes: ``jobs.lane`` (where the job runs), ``api_objects.lane`` and ``service_tier`` (where each
object ran, and the tier the API reported), and the ``usage_by_lane`` view.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Rows from before have no lane: they ran standard, which is what the view and the reports read for
NULL. Self-contained like 0001: nothing is imported from batchrunner.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USAGE_BY_LANE = """
SELECT j.batch_id AS batch_id, COALESCE(o.lane, 'standard') AS lane, o.model AS model,
    CAST(COALESCE(SUM(CASE WHEN o.round = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS attempts,
    COUNT(o.id) AS api_objects,
    CAST(COALESCE(SUM(o.prompt_tokens), 0) AS BIGINT) AS prompt_tokens,
    CAST(COALESCE(SUM(o.cached_tokens), 0) AS BIGINT) AS cached_tokens,
    CAST(COALESCE(SUM(o.completion_tokens), 0) AS BIGINT) AS completion_tokens,
    CAST(COALESCE(SUM(o.total_tokens), 0) AS BIGINT) AS total_tokens
FROM api_objects o
JOIN jobs j ON j.id = o.job_id
GROUP BY j.batch_id, COALESCE(o.lane, 'standard'), o.model"""


def upgrade() -> None:
    op.add_column("jobs", sa.Column("lane", sa.String(16), nullable=True))
    op.add_column("api_objects", sa.Column("lane", sa.String(16), nullable=True))
    op.add_column("api_objects", sa.Column("service_tier", sa.String(16), nullable=True))
    op.execute(f"CREATE VIEW usage_by_lane AS {_USAGE_BY_LANE}")


def downgrade() -> None:
    op.execute("DROP VIEW usage_by_lane")
    # Plain ALTER TABLEs (SQLite >= 3.35 has DROP COLUMN): rebuilding the tables would break the views on them.
    op.drop_column("api_objects", "service_tier")
    op.drop_column("api_objects", "lane")
    op.drop_column("jobs", "lane")
