"""Failures talking to Asterisk, one class per kind, with the request that caused them."""

from __future__ import annotations


class AsteriskError(Exception):
    """Base class for ARI and AMI failures."""


class AriUnavailable(AsteriskError):
    """Asterisk's HTTP server did not answer in time (busy, frozen, restarting, or wrong port)."""


class AriRefused(AriUnavailable):
    """Nothing listens on Asterisk's HTTP port: Asterisk is gone (stopped, crashed) or the port is wrong.
    Unlike a slow answer, waiting a few seconds will not help a call."""


class AriRequestFailed(AsteriskError):
    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"ARI {method} {path} -> {status}: {message}")
        self.method = method
        self.path = path
        self.status = status
        self.message = message


class ChannelGone(AriRequestFailed):
    """404 on a channel: the caller hung up before our command arrived. Normal, not a fault."""


class AriAuthFailed(AriRequestFailed):
    """401: the ARI credentials in the credentials file do not match ari.conf."""
