"""contacts and channels: a contact's legs (phone, chat, api), chat sessions, hand-off codes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(40), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False, server_default=""),
        sa.Column("customer_number", sa.String(80), nullable=False, server_default=""),
        sa.Column("customer_account", sa.String(80), nullable=False, server_default=""),
        sa.Column("customer_name", sa.String(80), nullable=False, server_default=""),
        sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_contacts_created_at", "contacts", ["created_at"])
    op.create_index("ix_contacts_customer_number", "contacts", ["customer_number"])
    op.create_index("ix_contacts_customer_account", "contacts", ["customer_account"])
    # Plain ADD COLUMN, never a batch copy of `calls`: on SQLite a batch drops the old table, and its
    # journey_events would go with it (ON DELETE CASCADE). SQLite gets no FK constraint on the new column.
    op.add_column("calls", sa.Column("channel", sa.String(8), nullable=False, server_default="phone"))
    op.add_column("calls", sa.Column("contact_id", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key("fk_calls_contact_id", "calls", "contacts", ["contact_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_calls_contact_id", "calls", ["contact_id"])
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
    )
    op.create_index("ix_chat_sessions_channel_id", "chat_sessions", ["channel_id"])
    op.create_index("ix_chat_sessions_last_seen_at", "chat_sessions", ["last_seen_at"])
    op.create_table(
        "handoff_codes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_leg", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="5"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=False, server_default=""),
    )
    op.create_index("ix_handoff_codes_code_hash", "handoff_codes", ["code_hash"])
    op.create_index("ix_handoff_codes_contact_id", "handoff_codes", ["contact_id"])
    op.create_index("ix_handoff_codes_expires_at", "handoff_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_table("handoff_codes")
    op.drop_table("chat_sessions")
    op.drop_index("ix_calls_contact_id", table_name="calls")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_calls_contact_id", "calls", type_="foreignkey")
    op.drop_column("calls", "contact_id")
    op.drop_column("calls", "channel")
    op.drop_index("ix_contacts_customer_account", table_name="contacts")
    op.drop_index("ix_contacts_customer_number", table_name="contacts")
    op.drop_index("ix_contacts_created_at", table_name="contacts")
    op.drop_table("contacts")
