"""Bearer-secret check for the deploy hook, in constant time whatever the secret's length."""

from __future__ import annotations

import hashlib
import hmac


def secret_matches(provided: str | None, expected: str | None) -> bool:
    """Compare SHA-256 digests, so neither the content nor the length of the secret leaks."""
    if not provided or not expected:
        return False
    return hmac.compare_digest(
        hashlib.sha256(provided.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )
