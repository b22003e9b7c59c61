"""API token format: `ph_<prefix>_<secret>`. The prefix finds the row; the whole is hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "ph_"


def generate() -> tuple[str, str, str]:
    """Returns (raw token, prefix, hash)."""
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return raw, prefix, hash_token(raw)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def parse_prefix(raw: str) -> str | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix


def matches(raw: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_token(raw), secret_hash)
