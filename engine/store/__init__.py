"""The database (SQLite by default, PostgreSQL too): models, Alembic migrations and the stores."""
