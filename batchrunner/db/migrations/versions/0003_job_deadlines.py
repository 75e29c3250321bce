"""Job deadlines: ``jobs.deadline_at``, when an unfinished job is cancelled and recorded ``expired``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Existing jobs have no deadline. Self-contained like 0001: nothing is imported from batchrunner.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE (SQLite >= 3.35 has DROP COLUMN): rebuilding the table would break the views on it.
    op.drop_column("jobs", "deadline_at")
