"""calls.caller_number indexed: the screen-pop's earlier legs of a customer, the per-number limits on
callbacks and hand-off codes, and erasure select calls by the caller's number

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-21
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_caller_number", "calls", ["caller_number"])


def downgrade() -> None:
    op.drop_index("ix_calls_caller_number", table_name="calls")
