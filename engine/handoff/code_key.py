"""The hand-off codes' server secret: 32 random bytes generated once into a 0600 file (by default
`handoff.key` beside the agents' secrets file), so the database alone never gives a code back
(a bare hash of 6 digits is reversed by trying all million)."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from engine.settings import SettingsError

KEY_BYTES = 32


class CodeKeyError(SettingsError):
    """The key file cannot be made or read: the engine does not start (one line, where and how to fix)."""


def read_or_create(path: Path) -> bytes:
    """The key in `path`, made (0600) if the file does not exist yet."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise CodeKeyError(f"{path}: cannot create the hand-off codes' key ({exc}); fix the folder's permissions or set [handoff] key_file") from None
    else:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise CodeKeyError(f"{path}: not a hand-off key ({exc}); delete it to make a new one (live codes stop working)") from None
    if len(key) < 16:
        raise CodeKeyError(f"{path}: the hand-off key is too short ({len(key)} bytes); delete it to make a new one")
    return key


async def load_code_key(path: Path) -> bytes:
    """read_or_create off the event loop (the engine's start)."""
    return await asyncio.to_thread(_load, path)


def _load(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    return read_or_create(path)
