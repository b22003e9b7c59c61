"""Secret formats: API tokens `ph_<prefix>_<secret>`, overlay keys `ok_<prefix>_<secret>`.

The prefix finds the row; the whole is hashed. The two never pass for each other: an API token
sent as an overlay key (or the reverse) does not parse, so it is refused before any lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "ph_"
OVERLAY_KEY_PREFIX = "ok_"
_HEX = "0123456789abcdef"


def generate(kind: str = TOKEN_PREFIX) -> tuple[str, str, str]:
    """Returns (raw token, prefix, hash)."""
    prefix = secrets.token_hex(6)
    raw = f"{kind}{prefix}_{secrets.token_urlsafe(32)}"
    return raw, prefix, hash_token(raw)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def parse_prefix(raw: str, kind: str = TOKEN_PREFIX) -> str | None:
    if not raw.startswith(kind):
        return None
    prefix, sep, secret = raw[len(kind) :].partition("_")
    if not sep or len(prefix) != 12 or not secret or prefix.strip(_HEX):
        return None  # the prefix is hex: nothing else (a NUL, say) ever reaches a query
    return prefix


def matches(raw: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_token(raw), secret_hash)
