"""Alembic environment: runs on the connection `threadline db upgrade` hands it (sync, inside run_sync)."""

from alembic import context

from engine.store.models import Base
from engine.store import api_models  # noqa: F401  (the Journey API tables join Base.metadata)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
