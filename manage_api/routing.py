"""Routes declared once: each carries what its OpenAPI operation says, beside its handler.

    routes = RouteList("triggers")

    @routes.post(PATH, Operation("createTrigger", "Create a trigger", TriggerCreate ...))
    async def create(request: Request) -> Response: ...

`manage_api.openapi` builds the document from the app's routes, so a route cannot be served
undocumented, nor documented unserved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    """An OpenAPI operation: `response` is the 2xx body's model (None for no body)."""

    id: str
    summary: str
    response: type[BaseModel] | None = None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    headers: tuple[str, ...] = ()
    public: bool = False
    media_type: str = "application/json"
    tag: str = ""


class ApiRoute(Route):
    """A Starlette route with one method and the operation that documents it."""

    def __init__(self, path: str, method: str, endpoint: Endpoint, operation: Operation) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method.lower()
        self.operation = operation


class RouteList(list[ApiRoute]):
    """The routes of one module, all tagged alike in the document."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def add(self, method: str, path: str, operation: Operation) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            self.append(ApiRoute(path, method, endpoint, replace(operation, tag=self.tag)))
            return endpoint

        return register

    def get(self, path: str, operation: Operation) -> Callable[[Endpoint], Endpoint]:
        return self.add("GET", path, operation)

    def post(self, path: str, operation: Operation) -> Callable[[Endpoint], Endpoint]:
        return self.add("POST", path, operation)

    def put(self, path: str, operation: Operation) -> Callable[[Endpoint], Endpoint]:
        return self.add("PUT", path, operation)

    def patch(self, path: str, operation: Operation) -> Callable[[Endpoint], Endpoint]:
        return self.add("PATCH", path, operation)

    def delete(self, path: str, operation: Operation) -> Callable[[Endpoint], Endpoint]:
        return self.add("DELETE", path, operation)
