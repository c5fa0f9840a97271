"""alert webhooks and their deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_hooks",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("project_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.JSONB(), nullable=False),
        sa.Column("secret_env", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "project_id", "id"),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("project_id", sa.String(length=63), nullable=False),
        sa.Column("hook_id", sa.String(length=63), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workflow_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "tenant_id", "project_id", "hook_id", "dedupe_key", name="alert_deliveries_key"
        ),
    )
    op.create_index(
        "alert_deliveries_unstarted",
        "alert_deliveries",
        ["created_at"],
        postgresql_where=sa.text("workflow_started_at IS NULL"),
    )
    op.create_index(
        "alert_deliveries_hook",
        "alert_deliveries",
        ["tenant_id", "project_id", "hook_id", sa.text("created_at DESC")],
    )


def downgrade() -> None:
    op.drop_index("alert_deliveries_hook", table_name="alert_deliveries")
    op.drop_index("alert_deliveries_unstarted", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_table("alert_hooks")
