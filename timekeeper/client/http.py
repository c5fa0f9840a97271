"""A small synchronous client of the JSON API: paths in, parsed JSON out, problems raised."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


class ApiError(RuntimeError):
    """An answer of 4xx/5xx, or no answer; the message is the API's own."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def default_api_key() -> str | None:
    """TIMEKEEPER_API_KEY, else the admin key of a local `timekeeper dev` stack."""
    key = os.environ.get("TIMEKEEPER_API_KEY")
    if key:
        return key
    path = Path(os.environ.get("TIMEKEEPER_DATA_DIR", ".timekeeper")) / "admin-key"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _problem_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    lines = [f"{body.get('detail') or body.get('title') or 'error'} (HTTP {response.status_code})"]
    for error in body.get("errors") or []:
        lines.append(f"  {error.get('field')}: {error.get('message')}")
    return "\n".join(lines)


class ApiClient:
    def __init__(self, url: str, api_key: str | None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the API at {self._http.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError(_problem_text(response), response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def pages(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a list, following `next_cursor`."""
        items: list[Any] = []
        query = dict(params or {})
        while True:
            page = self.call("GET", path, params=query)
            items.extend(page.get("items", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return items
            query["cursor"] = cursor
