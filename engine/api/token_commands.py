"""`threadline tokens create|list|revoke`: the Journey API's bearer tokens.

A token's secret is printed once, at creation, and never again: only its sha256 is stored. Revoking
takes effect at the token's next request (every request is checked against the database).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from engine.api.api_schema import SCOPES
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.settings import Settings
from engine.store.api_store import ApiToken, ApiTokenStore, TokenNameTaken, WebhookOutbox
from engine.store.database import create_engine, require_current

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
T = TypeVar("T")


def add_parser(commands: Any) -> None:
    tokens = commands.add_parser("tokens", help="Journey API tokens (/api/v1): create, list, revoke")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True)
    create = token_commands.add_parser("create", help="make a token and print its secret, once")
    create.add_argument("name", help="who uses it, e.g. crm or website (letters, digits, _ . -; at most 64)")
    create.add_argument("--scope", action="append", choices=SCOPES, required=True, help="journey:read and/or journey:write (repeat for both)")
    token_commands.add_parser("list", help="every token: name, scopes, created, last used, revoked (never a secret)")
    revoke = token_commands.add_parser("revoke", help="stop a token from working")
    revoke.add_argument("name")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.tokens_command == "create":
        if not NAME.match(args.name):
            print(f"threadline tokens create: name {args.name[:80]!r}: use 1-64 letters, digits, _ . - (starting with a letter or digit)", file=sys.stderr)
            return 2
        try:
            secret = _with_database(settings, lambda database: ApiTokenStore(database).create(args.name, args.scope, datetime.now(UTC)))
        except TokenNameTaken as taken:
            print(f"threadline tokens create: {taken}", file=sys.stderr)
            return 1
        print(f"token {args.name} ({', '.join(sorted(set(args.scope)))}): {secret}")
        print("This is the only time the secret is shown; keep it in the client's secret store. "
              "Send it as `Authorization: Bearer <secret>`.", file=sys.stderr)
        return 0
    if args.tokens_command == "list":
        tokens, counts = _with_database(settings, _listing)
        for token in tokens:
            print(_line(token))
        if not tokens:
            print("no tokens yet: threadline tokens create NAME --scope journey:read")
        print(f"webhook deliveries: {counts['pending']} pending, {counts['delivered']} delivered, {counts['given_up']} given up")
        return 0
    if not _with_database(settings, lambda database: ApiTokenStore(database).revoke(args.name, datetime.now(UTC))):
        print(f"threadline tokens revoke: no live token named {args.name[:80]!r} (see `threadline tokens list`)", file=sys.stderr)
        return 1
    print(f"token {args.name} revoked")
    return 0


def _line(token: ApiToken) -> str:
    def when(at: datetime | None) -> str:
        return at.isoformat(timespec="seconds") if at is not None else "never"

    revoked = f"  REVOKED {when(token.revoked_at)}" if token.revoked_at is not None else ""
    return f"{token.name}  scopes {','.join(token.scopes)}  created {when(token.created_at)}  last used {when(token.last_used_at)}{revoked}"


async def _listing(database: AsyncEngine) -> tuple[list[ApiToken], dict[str, int]]:
    return await ApiTokenStore(database).tokens(), await WebhookOutbox(database).counts()


def _with_database(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def run() -> T:
        database = create_engine(settings.database.url)
        try:
            await require_current(database, settings.database.url)
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(run())
