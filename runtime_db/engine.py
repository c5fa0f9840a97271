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


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """Size `pool_size` for the steady load: a connection beyond it is opened for one use and
    closed when returned, which under a burst means a new server process per statement batch."""
    return create_engine(
        normalize_url(url), pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
