"""Posting one alert: an attempt is recorded on its delivery row, success or not.

Temporal retries a failed post with backoff (the workflow's policy); a post that cannot succeed
(its hook deleted, its secret variable unset) fails without retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from alerts.models import AlertInput, GiveUpInput
from alerts.signature import HEADER, sign
from manage_db.timestamps import utc_now
from runtime_db.alerts import get_delivery, get_hook, give_up, record_attempt

log = logging.getLogger(__name__)

POST_TIMEOUT_SECONDS = 10.0
_EXCERPT = 300


@dataclass(frozen=True)
class _Post:
    url: str
    body: bytes
    headers: dict[str, str]


def alert_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes posted and signed: compact JSON with sorted keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


class AlertActivities:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        http: httpx.AsyncClient,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._sessions = session_factory
        self._http = http
        self._environ = environ

    def callables(self) -> list[Callable[..., Any]]:
        return [self.post_alert, self.give_up_alert]

    @activity.defn(name="alerts.post")
    async def post_alert(self, input: AlertInput) -> None:
        delivery_id = uuid.UUID(input.delivery_id)
        post = await asyncio.to_thread(self._prepare, delivery_id)
        if post is None:
            return
        try:
            response = await self._http.post(
                post.url, content=post.body, headers=post.headers, timeout=POST_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:_EXCERPT]
            await asyncio.to_thread(self._record, delivery_id, False, None, error)
            raise ApplicationError(error) from None
        if response.is_success:
            await asyncio.to_thread(self._record, delivery_id, True, response.status_code, None)
            return
        error = f"HTTP {response.status_code}: {response.text[:_EXCERPT]}"
        await asyncio.to_thread(self._record, delivery_id, False, response.status_code, error)
        raise ApplicationError(error)

    @activity.defn(name="alerts.give_up")
    def give_up_alert(self, input: GiveUpInput) -> None:
        delivery_id = uuid.UUID(input.delivery_id)
        with self._sessions.begin() as session:
            give_up(session, delivery_id, input.error, utc_now())
        log.error(
            "alert not delivered",
            extra={"fields": {"delivery": input.delivery_id, "error": input.error}},
        )

    def _prepare(self, delivery_id: uuid.UUID) -> _Post | None:
        """The post to make, or None when the delivery has ended already (a retried activity
        whose first run succeeded)."""
        with self._sessions() as session:
            delivery = get_delivery(session, delivery_id)
            if delivery is None or delivery.status != "pending":
                return None
            hook = get_hook(session, delivery.tenant_id, delivery.project_id, delivery.hook_id)
            if hook is None:
                raise ApplicationError("the alert hook was deleted", non_retryable=True)
            body = alert_body(delivery.payload)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Timekeeper-Alerts",
                "X-Timekeeper-Event": delivery.event,
                "X-Timekeeper-Delivery": str(delivery.id),
            }
            if hook.secret_env is not None:
                secret = self._environ.get(hook.secret_env)
                if not secret:
                    raise ApplicationError(
                        f"secret_env {hook.secret_env} is not set in the worker's environment",
                        non_retryable=True,
                    )
                headers[HEADER] = sign(body, secret)
            return _Post(hook.url, body, headers)

    def _record(
        self, delivery_id: uuid.UUID, delivered: bool, http_status: int | None, error: str | None
    ) -> None:
        with self._sessions.begin() as session:
            record_attempt(
                session,
                delivery_id,
                delivered=delivered,
                http_status=http_status,
                error=error,
                now=utc_now(),
            )
