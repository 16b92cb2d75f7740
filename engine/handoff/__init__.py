"""Hand-offs between channels: a chat that becomes a callback, or a call that goes on from a chat by a code."""
