"""airtable-api (port 8010): a stand-in for api.airtable.com, in memory.

Accepts only the personal access token found in the mounted secret file (AIRTABLE_TOKEN_FILE,
read on every request); anything else gets Airtable's own 401 shape. Routes follow Airtable's
Web API: /v0/meta/whoami, /v0/meta/bases, /v0/meta/bases/{base}/tables, /v0/{base}/{table}[/{id}].
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time

from common import App, env, json_response

app = App("airtable-api")

TOKEN_FILE = env("AIRTABLE_TOKEN_FILE", "/run/secrets/airtable_token")
BASE_ID = env("AIRTABLE_BASE", "appSandbox0000001")

SCHEMA = {
    "Tasks": [("Name", "singleLineText"), ("Status", "singleSelect"), ("Notes", "multilineText")],
    "Projects": [("Name", "singleLineText"), ("Owner", "singleLineText")],
}
_lock = threading.Lock()
_records: dict[str, dict[str, dict]] = {name: {} for name in SCHEMA}


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(7)


def _record(fields: dict) -> dict:
    return {
        "id": _new_id("rec"),
        "createdTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "fields": dict(fields),
    }


with _lock:
    for name in ("Write the onboarding guide", "Review the schema"):
        rec = _record({"Name": name, "Status": "Todo"})
        _records["Tasks"][rec["id"]] = rec


def unauthorized():
    return json_response(401, {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Invalid API key"}})


def not_found(kind: str = "NOT_FOUND", message: str = "Could not find what you are looking for"):
    return json_response(404, {"error": {"type": kind, "message": message}})


def authorized(req) -> bool:
    try:
        with open(TOKEN_FILE) as fh:
            valid = fh.read().strip()
    except OSError:
        return False
    given = req.bearer() or ""
    return bool(valid) and hmac.compare_digest(given.encode(), valid.encode())


def guarded(func):
    def wrapper(req):
        if not authorized(req):
            return unauthorized()
        return func(req)

    return wrapper


def table_of(req):
    if req.params.get("base") != BASE_ID:
        return None, not_found(
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "Invalid permissions, or the requested model was not found."
        )
    table = req.params.get("table")
    if table not in _records:
        return None, not_found("TABLE_NOT_FOUND", f"Could not find table {table} in application {BASE_ID}")
    return table, None


def tables_payload():
    tables = []
    for index, (name, fields) in enumerate(SCHEMA.items()):
        field_list = [
            {"id": f"fld{index}{i:02d}sandbox", "name": fname, "type": ftype} for i, (fname, ftype) in enumerate(fields)
        ]
        tables.append(
            {
                "id": f"tbl{index:02d}sandbox",
                "name": name,
                "primaryFieldId": field_list[0]["id"],
                "fields": field_list,
                "views": [],
            }
        )
    return {"tables": tables}


@app.route("GET", "/health")
def health(req):
    return json_response(200, {"status": "healthy", "service": "airtable-api"})


@app.route("GET", "/v0/meta/whoami")
@guarded
def whoami(req):
    return json_response(
        200, {"id": "usrSandbox0000001", "scopes": ["data.records:read", "data.records:write", "schema.bases:read"]}
    )


@app.route("GET", "/v0/meta/bases")
@guarded
def bases(req):
    return json_response(200, {"bases": [{"id": BASE_ID, "name": "PyAirtable sandbox", "permissionLevel": "create"}]})


@app.route("GET", "/v0/meta/bases/{base}/tables")
@guarded
def base_tables(req):
    if req.params["base"] != BASE_ID:
        return not_found(
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "Invalid permissions, or the requested model was not found."
        )
    return json_response(200, tables_payload())


@app.route("GET", "/v0/{base}/{table}")
@guarded
def list_records(req):
    table, err = table_of(req)
    if err:
        return err
    with _lock:
        return json_response(200, {"records": list(_records[table].values())})


@app.route("POST", "/v0/{base}/{table}")
@guarded
def create_record(req):
    table, err = table_of(req)
    if err:
        return err
    body = req.json()
    allowed = {name for name, _ in SCHEMA[table]}
    batch = body.get("records") if "records" in body else [{"fields": body.get("fields", {})}]
    created = []
    for item in batch:
        fields = item.get("fields", {})
        unknown = sorted(set(fields) - allowed)
        if unknown:
            return json_response(
                422, {"error": {"type": "UNKNOWN_FIELD_NAME", "message": f'Unknown field name: "{unknown[0]}"'}}
            )
        created.append(_record(fields))
    with _lock:
        for rec in created:
            _records[table][rec["id"]] = rec
    return json_response(200, {"records": created} if "records" in body else created[0])


@app.route("GET", "/v0/{base}/{table}/{record}")
@guarded
def get_record(req):
    table, err = table_of(req)
    if err:
        return err
    with _lock:
        rec = _records[table].get(req.params["record"])
    return json_response(200, rec) if rec else json_response(404, {"error": "NOT_FOUND"})


@app.route("PATCH", "/v0/{base}/{table}/{record}")
@guarded
def update_record(req):
    table, err = table_of(req)
    if err:
        return err
    fields = req.json().get("fields", {})
    with _lock:
        rec = _records[table].get(req.params["record"])
        if rec is None:
            return json_response(404, {"error": "NOT_FOUND"})
        rec["fields"].update(fields)
        return json_response(200, rec)


@app.route("DELETE", "/v0/{base}/{table}/{record}")
@guarded
def delete_record(req):
    table, err = table_of(req)
    if err:
        return err
    with _lock:
        rec = _records[table].pop(req.params["record"], None)
    if rec is None:
        return json_response(404, {"error": "NOT_FOUND"})
    return json_response(200, {"id": rec["id"], "deleted": True})


if __name__ == "__main__":
    app.serve(int(env("PORT", "8010")))
