"""airtable-gateway (port 8002): the stack's client of the Airtable API.

Reads AIRTABLE_TOKEN (or AIRTABLE_PAT) and AIRTABLE_BASE. Callers must send X-API-Key equal to
INTERNAL_API_KEY (the api-gateway does) or an X-User-ID header; otherwise 401 "Missing user context".
Errors from Airtable are passed on with Airtable's status and body (X-Upstream: airtable-api).
"""

from __future__ import annotations

import hmac
import json
import urllib.parse

from common import App, Response, check_http, env, error, health_response, http_call, json_response, log

app = App("airtable-gateway")

TOKEN = env("AIRTABLE_TOKEN") or env("AIRTABLE_PAT") or ""
BASE = env("AIRTABLE_BASE", "")
INTERNAL_API_KEY = env("INTERNAL_API_KEY", "")
AIRTABLE_API_URL = env("AIRTABLE_API_URL", "https://api.airtable.com")


def caller_ok(req) -> bool:
    key = req.headers.get("X-API-Key") or ""
    if INTERNAL_API_KEY and hmac.compare_digest(key.encode(), INTERNAL_API_KEY.encode()):
        return True
    return bool(req.headers.get("X-User-ID"))


def guarded(func):
    def wrapper(req):
        if not caller_ok(req):
            return error(401, "Missing user context")
        return func(req)

    return wrapper


def airtable(method: str, path: str, body=None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    status, _, raw = http_call(method, f"{AIRTABLE_API_URL}{path}", data, headers, timeout=10)
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"raw": raw.decode(errors="replace")}
    if status >= 400:
        log(f"WARN airtable {method} {path} -> {status} {json.dumps(payload)}")
    return status, payload


def upstream_error(status: int, payload) -> Response:
    return json_response(status, payload, {"X-Upstream": "airtable-api"})


def table_path(req) -> str:
    return f"/v0/{BASE}/{urllib.parse.quote(req.params['table'])}"


@app.route("GET", "/health")
def health(req):
    return health_response({"airtable-api": check_http(f"{AIRTABLE_API_URL}/health")})


@app.route("GET", "/tables")
@guarded
def tables(req):
    status, payload = airtable("GET", f"/v0/meta/bases/{BASE}/tables")
    if status != 200:
        return upstream_error(status, payload)
    return json_response(
        200, {"base_id": BASE, "tables": [{"id": t["id"], "name": t["name"]} for t in payload["tables"]]}
    )


@app.route("GET", "/schema")
@guarded
def schema(req):
    status, payload = airtable("GET", f"/v0/meta/bases/{BASE}/tables")
    if status != 200:
        return upstream_error(status, payload)
    return json_response(200, {"base_id": BASE, "tables": payload["tables"]})


@app.route("GET", "/tables/{table}/records")
@guarded
def list_records(req):
    status, payload = airtable("GET", table_path(req))
    return json_response(200, payload) if status == 200 else upstream_error(status, payload)


@app.route("POST", "/tables/{table}/records")
@guarded
def create_record(req):
    status, payload = airtable("POST", table_path(req), {"fields": req.json().get("fields", {})})
    return json_response(201, payload) if status == 200 else upstream_error(status, payload)


@app.route("GET", "/tables/{table}/records/{record}")
@guarded
def get_record(req):
    status, payload = airtable("GET", f"{table_path(req)}/{req.params['record']}")
    return json_response(200, payload) if status == 200 else upstream_error(status, payload)


@app.route("PATCH", "/tables/{table}/records/{record}")
@guarded
def update_record(req):
    status, payload = airtable(
        "PATCH", f"{table_path(req)}/{req.params['record']}", {"fields": req.json().get("fields", {})}
    )
    return json_response(200, payload) if status == 200 else upstream_error(status, payload)


@app.route("DELETE", "/tables/{table}/records/{record}")
@guarded
def delete_record(req):
    status, payload = airtable("DELETE", f"{table_path(req)}/{req.params['record']}")
    return json_response(200, payload) if status == 200 else upstream_error(status, payload)


if __name__ == "__main__":
    log(
        f"settings: AIRTABLE_BASE={BASE} token={'set' if TOKEN else 'MISSING'} "
        f"INTERNAL_API_KEY={'set' if INTERNAL_API_KEY else 'MISSING'}"
    )
    app.serve(int(env("PORT", "8002")))
