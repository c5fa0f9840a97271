"""schedule state leaves the versioned store; manage-store compactions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Existing triggers need no backfill here: the dispatcher's first tick finds no `branch_syncs`
row for any project branch and syncs every definition, taking `next_run_at` and
`last_scheduled_for` from the manage store, where the previous version kept them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_schedules",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("project_id", sa.String(length=63), nullable=False),
        sa.Column("trigger_id", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("schedule_key", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("cron_expression", sa.Text(), nullable=True),
        sa.Column("cron_timezone", sa.Text(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("misfire_grace_seconds", sa.Integer(), nullable=False),
        sa.Column("catchup", sa.String(length=10), server_default="latest", nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("invalid_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "project_id", "trigger_id"),
    )
    op.create_index(
        "trigger_schedules_due",
        "trigger_schedules",
        ["next_run_at"],
        postgresql_where=sa.text("enabled AND next_run_at IS NOT NULL"),
    )
    op.create_table(
        "branch_syncs",
        sa.Column("branch", sa.Text(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("branch"),
    )

    op.create_table(
        "store_compactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bytes_before", sa.BigInteger(), nullable=False),
        sa.Column("bytes_after", sa.BigInteger(), nullable=False),
        sa.Column("pause_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("store_compactions")
    op.drop_table("branch_syncs")
    op.drop_index("trigger_schedules_due", table_name="trigger_schedules")
    op.drop_table("trigger_schedules")
