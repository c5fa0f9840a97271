"""scheduling controls in schedule state; an invocation's jittered start

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Existing rows take the defaults (no jitter, no window end, no run limit, nothing skipped): the
same as before. A definition that sets a control is synced with a new version, which copies it.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "trigger_schedules",
        sa.Column("jitter_seconds", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("trigger_schedules", sa.Column("end_at", sa.DateTime(timezone=True)))
    op.add_column("trigger_schedules", sa.Column("max_runs", sa.Integer()))
    op.add_column(
        "trigger_schedules",
        sa.Column("skipped", postgresql.JSONB(), server_default="[]", nullable=False),
    )
    op.add_column("trigger_schedules", sa.Column("completed_reason", sa.Text()))
    op.add_column("invocations", sa.Column("fire_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("invocations", "fire_at")
    for column in ("completed_reason", "skipped", "max_runs", "end_at", "jitter_seconds"):
        op.drop_column("trigger_schedules", column)
