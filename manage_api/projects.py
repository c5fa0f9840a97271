"""Projects over HTTP: create (idempotent by id), list, get, delete."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manage_api.inputs import json_object, parse_body, path_scope
from manage_api.models import Project, ProjectList
from manage_api.routing import Operation, RouteList
from manage_db.projects import ProjectRow
from service import projects
from service.context import ServiceContext
from service.inputs import ProjectCreate

PROJECTS = "/v1/tenants/{tenant_id}/projects"
PROJECT = PROJECTS + "/{project_id}"


def project_body(row: ProjectRow) -> Project:
    return Project(**vars(row))


def project_routes(ctx: ServiceContext) -> RouteList:
    routes = RouteList("projects")

    @routes.post(
        PROJECTS,
        Operation(
            "createProject",
            "Create a project (and its branch); idempotent by id",
            Project,
            status=201,
            body=ProjectCreate,
            errors=(409,),
        ),
    )
    async def create(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        body = parse_body(ProjectCreate, await json_object(request))
        row, created = await run_in_threadpool(projects.create_project, ctx, scope, body)
        headers = {"Location": f"/v1/tenants/{scope.tenant_id}/projects/{row.id}"}
        return JSONResponse(
            project_body(row).model_dump(mode="json"), 201 if created else 200, headers
        )

    @routes.get(PROJECTS, Operation("listProjects", "List the tenant's projects", ProjectList))
    async def list_(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        rows = await run_in_threadpool(projects.list_projects, ctx, scope)
        return JSONResponse(ProjectList(items=[project_body(r) for r in rows]).model_dump())

    @routes.get(PROJECT, Operation("getProject", "Get a project", Project))
    async def get(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        row = await run_in_threadpool(projects.get_project_of, ctx, scope)
        return JSONResponse(project_body(row).model_dump(mode="json"))

    @routes.delete(
        PROJECT,
        Operation(
            "deleteProject",
            "Delete a project: disable its triggers, cancel pending runs, remove its branch",
            status=204,
            errors=(409,),
        ),
    )
    async def delete(request: Request) -> Response:
        scope = await path_scope(request, ctx)
        await run_in_threadpool(projects.delete_project, ctx, scope)
        return Response(status_code=204)

    return routes
