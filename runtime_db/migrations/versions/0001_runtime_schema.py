"""runtime schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "invocations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("project_id", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=63), nullable=False),
        sa.Column("trigger_id", sa.String(length=63), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("workflow_id", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("trigger_version", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "tenant_id",
            "project_id",
            "agent_id",
            "trigger_id",
            "scheduled_for",
            "kind",
            name="invocations_key",
        ),
        sa.UniqueConstraint("workflow_id"),
    )
    op.create_index(
        "invocations_open",
        "invocations",
        ["status", "started_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.create_index(
        "invocations_trigger_created",
        "invocations",
        ["tenant_id", "project_id", "agent_id", "trigger_id", sa.text("created_at DESC")],
        unique=False,
    )
    op.create_table(
        "scheduler_generations",
        sa.Column("generation", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("deployment_id", sa.String(length=200), nullable=False),
        sa.Column("workflow_id", sa.String(length=300), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("task_queue", sa.String(length=300), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("generation"),
        sa.UniqueConstraint("deployment_id"),
    )
    op.create_table(
        "scheduler_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.String(length=200), nullable=False),
        sa.Column("workflow_id", sa.String(length=300), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("task_queue", sa.String(length=300), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_tick", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "invocation_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("invocation_id", sa.UUID(), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error_class", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["invocation_id"], ["invocations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invocation_id", "attempt_number", name="attempts_key"),
    )


def downgrade() -> None:
    op.drop_table("invocation_attempts")
    op.drop_table("scheduler_state")
    op.drop_table("scheduler_generations")
    op.drop_index("invocations_trigger_created", table_name="invocations")
    op.drop_index(
        "invocations_open",
        table_name="invocations",
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.drop_table("invocations")
    op.drop_table("api_keys")
