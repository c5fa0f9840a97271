"""Engine and session factory for the runtime database, built on demand from a URL."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Use psycopg 3 whatever driver the URL names (pgserver hands out plain `postgresql://`)."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, pool_size: int = 10) -> Engine:
    return create_engine(
        normalize_url(url), pool_size=pool_size, max_overflow=20, pool_pre_ping=True
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
