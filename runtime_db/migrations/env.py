"""Alembic environment: runs against the connection `runtime_db.migrate` hands over."""

from alembic import context
from sqlalchemy.engine import Connection

from runtime_db.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through runtime_db.migrate.upgrade(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
