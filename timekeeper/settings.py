"""Settings from `TIMEKEEPER_*` environment variables and an optional `.env`.

Built by `load_settings()` when a process starts, never at import time, so tests and CLI
commands each get the configuration they were given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# What a `timekeeper worker` process serves (`timekeeper.worker.build_workers`).
WorkerRole = Literal["all", "scheduler", "runner"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIMEKEEPER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".timekeeper"), description="Embedded stack's home.")
    runtime_database_url: str | None = Field(None, description="External PostgreSQL URL.")
    manage_store_path: Path | None = Field(None, description="doltlite file (data_dir/manage.db).")
    temporal_address: str | None = Field(None, description="External Temporal host:port.")
    temporal_namespace: str = "default"
    temporal_port: int | None = Field(None, description="Embedded Temporal port (free if unset).")
    temporal_ui_port: int | None = Field(None, description="Embedded Temporal UI port.")
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    bootstrap_admin_key: SecretStr | None = None
    deploy_secret: SecretStr | None = None
    ui_session_secret: SecretStr | None = Field(
        None, description="Signs dashboard sessions (unset: a random one per process)."
    )
    deployment_id: str = Field("local", description="This process's deployment.")
    task_queue: str | None = Field(None, description="Defaults to timekeeper-{deployment_id}.")
    tick_seconds: int = Field(60, ge=1)
    worker_role: WorkerRole = Field(
        "all",
        description="What `timekeeper worker` serves: the scheduler with its one-time dispatches,"
        " manual runs and alerts (scheduler), the minute's dispatches and their runs (runner),"
        " or both in one process (all).",
    )
    one_time_lead_seconds: int = Field(
        30,
        ge=0,
        le=30,
        description="How far ahead of a one-time instant the scheduler hands it to a dispatch,"
        " which waits for it on the worker's clock (a server timer fires late under load).",
    )
    minute_lead_seconds: int = Field(
        20,
        ge=0,
        le=25,
        description="How far ahead of each minute the scheduler hands that minute to its dispatch,"
        " which starts the minute's runs ahead; each begins at the minute on its worker's clock"
        " (0: the minute's runs are started at the minute, and reach their agents over the"
        " seconds their starts take).",
    )
    dispatch_max_per_tick: int = Field(1000, ge=1)
    dispatch_max_per_branch: int = Field(100, ge=1)
    dispatch_concurrency: int = Field(50, ge=1)
    database_pool_size: int = Field(
        32, ge=1, description="Runtime database connections each process keeps open."
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] | None = Field(
        None, description="Log lines as text or JSON objects; unset: text for dev, else JSON."
    )
    metrics_port: int | None = Field(None, description="Worker's /metrics port (unset: none).")
    max_message_bytes: int = Field(256 * 1024, ge=1024, description="Largest rendered message.")
    compact_growth_factor: float = Field(2.0, ge=1.0, description="Compact at this many times")
    compact_min_growth_bytes: int = Field(16 << 20, ge=0, description="...and this much growth.")
    compact_min_interval_seconds: int = Field(3 * 3600, ge=0)
    compact_check_seconds: int = Field(300, ge=1)

    @property
    def effective_task_queue(self) -> str:
        return self.task_queue or task_queue_for(self.deployment_id)

    @property
    def manage_store_file(self) -> Path:
        return self.manage_store_path or self.data_dir / "manage.db"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def stack_file(self) -> Path:
        """Where `timekeeper dev` records the addresses of what it started."""
        return self.data_dir / "stack.json"


def task_queue_for(deployment_id: str) -> str:
    return f"timekeeper-{deployment_id}"


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
