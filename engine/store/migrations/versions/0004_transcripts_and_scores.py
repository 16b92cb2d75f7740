"""transcripts (full-text searchable: SQLite FTS5, PostgreSQL GIN over to_tsvector) and QA scores

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recording_id", sa.Integer(), sa.ForeignKey("recordings.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("language", sa.String(10), nullable=False, server_default=""),
        sa.Column("engine", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audio_s", sa.Float(), nullable=False, server_default="0"),
        sa.Column("decode_s", sa.Float(), nullable=False, server_default="0"),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("sentiment", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_index("ix_transcripts_call_id", "transcripts", ["call_id"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE transcripts_fts USING fts5(text, content='transcripts', content_rowid='id')")
        op.execute("CREATE TRIGGER transcripts_fts_insert AFTER INSERT ON transcripts BEGIN "
                   "INSERT INTO transcripts_fts(rowid, text) VALUES (new.id, new.text); END")
        op.execute("CREATE TRIGGER transcripts_fts_delete AFTER DELETE ON transcripts BEGIN "
                   "INSERT INTO transcripts_fts(transcripts_fts, rowid, text) VALUES ('delete', old.id, old.text); END")
        op.execute("CREATE TRIGGER transcripts_fts_update AFTER UPDATE ON transcripts BEGIN "
                   "INSERT INTO transcripts_fts(transcripts_fts, rowid, text) VALUES ('delete', old.id, old.text); "
                   "INSERT INTO transcripts_fts(rowid, text) VALUES (new.id, new.text); END")
    else:
        op.execute("CREATE INDEX ix_transcripts_fts ON transcripts USING gin (to_tsvector('simple', text))")
    op.create_table(
        "qa_scores",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("scorecard", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_index("ix_qa_scores_call_id", "qa_scores", ["call_id"])
    op.create_index("ix_qa_scores_agent_id", "qa_scores", ["agent_id"])


def downgrade() -> None:
    op.drop_table("qa_scores")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER transcripts_fts_{trigger}")
        op.execute("DROP TABLE transcripts_fts")
    op.drop_table("transcripts")
