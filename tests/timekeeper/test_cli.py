"""The `timekeeper` command as CI and operators run it: a real process with real stores."""

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from runtime_db.api_keys import authenticate


def _timekeeper(
    *args: str, data_dir: Path, runtime_url: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEKEEPER_")}
    env["TIMEKEEPER_DATA_DIR"] = str(data_dir)
    if runtime_url is not None:
        env["TIMEKEEPER_RUNTIME_DATABASE_URL"] = runtime_url
    return subprocess.run(
        [sys.executable, "-m", "timekeeper", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_migrate_is_safe_to_run_twice(tmp_path: Path, runtime_db_url: str) -> None:
    first = _timekeeper("migrate", data_dir=tmp_path, runtime_url=runtime_db_url)
    second = _timekeeper("migrate", data_dir=tmp_path, runtime_url=runtime_db_url)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    expected = {
        "manage_branches_migrated": 0,
        "manage_schema_version": 4,
        "runtime_revision": "0004",
    }
    assert json.loads(first.stdout) == {**expected, "manage_branches_migrated": 1}
    assert json.loads(second.stdout) == expected


def test_keys_create_prints_a_key_once_and_stores_only_its_hash(
    tmp_path: Path, runtime_db_url: str, session_factory: sessionmaker[Session]
) -> None:
    result = _timekeeper(
        "keys", "create", "--tenant", "acme", data_dir=tmp_path, runtime_url=runtime_db_url
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("tk_")
    with session_factory() as session:
        principal = authenticate(session, key)
        stored = (
            session.execute(__import__("sqlalchemy").text("select key_hash from api_keys"))
            .scalars()
            .all()
        )
    assert principal is not None
    assert (principal.tenant_id, principal.is_admin) == ("acme", False)
    assert key not in stored


def test_keys_create_needs_a_tenant_or_admin(tmp_path: Path, runtime_db_url: str) -> None:
    result = _timekeeper("keys", "create", data_dir=tmp_path, runtime_url=runtime_db_url)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: give --tenant T, or --admin"


def test_a_command_without_any_stack_says_what_to_do(tmp_path: Path) -> None:
    result = _timekeeper("keys", "create", "--admin", data_dir=tmp_path, runtime_url=None)
    assert result.returncode == 2
    assert "start `timekeeper dev`" in result.stderr
