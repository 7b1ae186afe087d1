"""The FastAPI service behind runtime/tests/openapi_tools.rs: the OpenAPI adapter discovers its
operations from `/openapi.json` (OpenAPI 3.1, pydantic bodies as `$ref`s) and calls them.

Run: `$OMNIA_PYENV/bin/python -m uvicorn openapi_app:app --host 127.0.0.1 --port PORT
--app-dir runtime/tests/servers`. With `OPENAPI_APP_TOKEN` set, every request (the spec too)
needs `Authorization: Bearer <token>`.

`runtime/tests/fixtures/openapi/fastapi-3.1.json` is this app's `app.openapi()`; after a change
here, regenerate it from runtime/tests/servers with
`$OMNIA_PYENV/bin/python -c 'import json, openapi_app; print(json.dumps(openapi_app.app.openapi(),
indent=2))' > ../fixtures/openapi/fastapi-3.1.json`.
"""

import os

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, field_validator

app = FastAPI(title="orders", version="1.0.0")

TOKEN = os.environ.get("OPENAPI_APP_TOKEN")


@app.middleware("http")
async def require_token(request: Request, call_next):
    if TOKEN and request.headers.get("authorization") != f"Bearer {TOKEN}":
        return JSONResponse({"detail": "missing or wrong token"}, status_code=401)
    return await call_next(request)


class Order(BaseModel):
    item: str
    quantity: int = 1

    # Not in the schema, so an order that passes the tool's input schema can still be refused
    # (422) by the service.
    @field_validator("item")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("item must not be blank")
        return value


@app.get("/items", operation_id="list_items", summary="List items")
def list_items(q: str | None = None, limit: int = 10):
    return {"q": q, "limit": limit}


@app.get("/items/{item_id}", operation_id="get_item")
def get_item(item_id: int, x_trace: str | None = Header(default=None)):
    return {"id": item_id, "trace": x_trace}


@app.post("/orders", operation_id="create_order", summary="Create an order")
def create_order(order: Order, request: Request):
    return {"ok": True, "order": order.model_dump(), "auth": request.headers.get("authorization")}
