"""The Batch API lane: ``api_batches`` (one row per submitted input file) and ``jobs.api_batch_pk``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08

Self-contained like 0001: nothing is imported from batchrunner.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column(
            "batch_id",
            sa.Integer(),
            sa.ForeignKey("batches.id", ondelete="CASCADE", name="fk_api_batches_batch_id_batches"),
            nullable=False,
        ),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("lines", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("estimated_tokens", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("input_file_id", sa.String(128)),
        sa.Column("api_batch_id", sa.String(128)),
        sa.Column("api_status", sa.String(32)),
        sa.Column("output_file_id", sa.String(128)),
        sa.Column("error_file_id", sa.String(128)),
        sa.Column("completed_lines", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("failed_lines", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("error_message", sa.Text()),
        sa.Column("next_check_at", _utc()),
        sa.Column("created_at", _utc(), nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
        sa.Column("updated_at", _utc(), nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
        sa.Column("finished_at", _utc()),
        sa.UniqueConstraint("key", name="uq_api_batches_key"),
        sa.UniqueConstraint("api_batch_id", name="uq_api_batches_api_batch_id"),
    )
    op.create_index("ix_api_batches_phase_next_check_at", "api_batches", ["phase", "next_check_at"])
    # No foreign key: SQLite would need jobs rebuilt (which breaks the views on it) to add one; the
    # submission a job points to is removed only with its batch, and its jobs with it.
    op.add_column("jobs", sa.Column("api_batch_pk", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "api_batch_pk")
    op.drop_index("ix_api_batches_phase_next_check_at", "api_batches")
    op.drop_table("api_batches")
