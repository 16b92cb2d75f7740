"""Database engines and migrations. SQLite (aiosqlite) is the embedded default; PostgreSQL (asyncpg) works too."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseNotReady(Exception):
    pass


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so concurrent calls queue instead of failing."""
    if make_url(url).get_backend_name() == "sqlite":
        # One connection: writers queue in the pool instead of sleeping in SQLite's busy handler.
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=60)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # Time limits on connecting and on every statement: a partitioned database must not hang a call.
    return create_async_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=10,
        connect_args={"timeout": 5, "command_timeout": 10},
    )


DATABASE_FILE_MODE = 0o640
DATABASE_FOLDER_MODE = 0o750
"""The journeys hold callers' numbers and what they said: nobody but the engine's user (and group) reads them."""


def shown_url(url: str) -> str:
    """The URL as it may be printed or logged: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: show no part of it that could hold a secret
        return "(database.url)"


def ensure_sqlite_folder(url: str) -> None:
    """SQLite creates the file but not its folder (data/ on a fresh checkout). The folder is made 0750
    and the file created 0640 before SQLite opens it (its -wal and -shm files copy the file's mode);
    a file left more open by an older version is tightened."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return
    path = Path(parsed.database)
    if not path.parent.is_dir():
        path.parent.mkdir(mode=DATABASE_FOLDER_MODE, parents=True, exist_ok=True)
        path.parent.chmod(DATABASE_FOLDER_MODE)  # mkdir's mode is filtered by the umask
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, DATABASE_FILE_MODE))
    for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = existing.stat().st_mode & 0o777
            if mode & ~DATABASE_FILE_MODE:
                existing.chmod(mode & DATABASE_FILE_MODE)
        except FileNotFoundError:
            continue


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def ping(engine: AsyncEngine, timeout_s: float = 3.0) -> None:
    """Raise if the database does not answer a trivial query in time."""
    async with asyncio.timeout(timeout_s), engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_database(url: str) -> str:
    """Apply every migration; return the revision the database is now at.

    Runs once at start-up, before any call: Alembic reads its scripts from disk on the loop thread.
    """
    try:
        await asyncio.to_thread(ensure_sqlite_folder, url)
    except OSError as exc:
        raise DatabaseNotReady(f"database {shown_url(url)}: its file cannot be created ({exc.strerror}: {exc.filename}); check database.url and that folder's permissions") from None
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, alembic_config(url))
        return await current_revision(engine)
    except (OSError, DBAPIError, TimeoutError) as exc:
        raise DatabaseNotReady(f"database {shown_url(url)} is not reachable ({exc.__class__.__name__}: {exc}); check database.url") from None
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        revision = await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    return revision or "(empty)"


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return head or ""


async def require_current(engine: AsyncEngine, url: str) -> None:
    """Refuse to run on a database that migrations have not reached."""
    revision = await current_revision(engine)
    if revision != head_revision():
        raise DatabaseNotReady(
            f"database {shown_url(url)} is at revision {revision}, "
            f"the engine needs {head_revision()}: run `threadline db upgrade`."
        )


