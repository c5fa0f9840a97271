"""Who is signed in, and the CSRF token of their session.

The session cookie (Starlette's, signed, `HttpOnly`, `SameSite=Strict`) holds the SHA-256 of
the API key used to sign in, never the key: every request looks the key up again, so a revoked
key signs its sessions out. Every form POST carries the session's CSRF token.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request

from runtime_db.api_keys import Principal, authenticate, authenticate_digest, digest
from service.context import ServiceContext

_KEY = "key"
_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form."""


def csrf_token(request: Request) -> str:
    token = request.session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


def check_csrf(request: Request, sent: object) -> None:
    """403 unless `sent` is this session's token."""
    expected = request.session.get(_CSRF)
    if not isinstance(sent, str) or not isinstance(expected, str):
        raise HTTPException(403, "Missing CSRF token.")
    if not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "Invalid CSRF token.")


async def sign_in(request: Request, ctx: ServiceContext, api_key: str) -> Principal | None:
    def _lookup() -> Principal | None:
        with ctx.session_factory() as session:
            return authenticate(session, api_key)

    principal = await run_in_threadpool(_lookup)
    if principal is not None:
        request.session.clear()
        request.session[_KEY] = digest(api_key)
        csrf_token(request)
    return principal


def sign_out(request: Request) -> None:
    request.session.clear()


async def signed_in(request: Request, ctx: ServiceContext) -> Principal:
    """The session's principal; SignInRequired when there is none (or its key was revoked)."""
    key_digest = request.session.get(_KEY)
    if not isinstance(key_digest, str):
        raise SignInRequired

    def _lookup() -> Principal | None:
        with ctx.session_factory() as session:
            return authenticate_digest(session, key_digest)

    principal = await run_in_threadpool(_lookup)
    if principal is None:
        raise SignInRequired
    return principal
