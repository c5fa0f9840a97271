"""Runtime (PostgreSQL) migrations: to head on an empty database, and idempotent."""

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from runtime_db import migrate


def test_upgrade_creates_every_runtime_table(runtime_engine: Engine) -> None:
    tables = set(inspect(runtime_engine).get_table_names())
    assert tables == {
        "alembic_version",
        "scheduler_state",
        "scheduler_generations",
        "invocations",
        "invocation_attempts",
        "api_keys",
        "trigger_schedules",
        "branch_syncs",
        "store_compactions",
        "alert_hooks",
        "alert_deliveries",
    }
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert migrate.current_revision(runtime_engine) == head == "0004"


def test_upgrade_twice_changes_nothing(runtime_engine: Engine) -> None:
    def schema() -> list[tuple[str, str, str]]:
        with runtime_engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text(
                        "select table_name, column_name, data_type from information_schema.columns"
                        " where table_schema = 'public' order by table_name, column_name"
                    )
                )
            ]

    before = schema()
    migrate.upgrade(runtime_engine)
    migrate.upgrade(runtime_engine)
    assert schema() == before
    assert migrate.current_revision(runtime_engine) == "0004"


def test_upgrade_on_a_blank_database(postgres_server_url: str) -> None:
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("drop database if exists tk_blank with (force)"))
        conn.execute(text("create database tk_blank"))
    engine = create_engine(make_url(postgres_server_url).set(database="tk_blank"))
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == "0004"
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text("drop database tk_blank with (force)"))
        admin.dispose()
