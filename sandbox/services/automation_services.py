"""automation-services (port 8006): file uploads and workflows (the real stack merged the old
file and workflow services into this one, on 8006).

Files: POST /files/upload (multipart field "file"), GET /files, GET /files/{id}/download.
Workflows: POST /workflows, POST /workflows/{id}/execute (202), GET /workflows/{id}/history.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
import secrets
import threading
import time

from common import App, Response, check_db, check_redis, env, error, health_response, json_response

app = App("automation-services")
UPLOAD_DIR = env("UPLOAD_DIR", "/tmp/uploads")
MAX_UPLOAD_BYTES = int(env("MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)))
os.makedirs(UPLOAD_DIR, exist_ok=True)

_lock = threading.Lock()
_files: dict[str, dict] = {}
_workflows: dict[str, dict] = {}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_multipart(req) -> dict[str, tuple[str | None, bytes]]:
    ctype = req.headers.get("Content-Type") or ""
    if not ctype.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + req.body
    )
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return parts


@app.route("GET", "/health")
def health(req):
    return health_response({"database": check_db(), "redis": check_redis()})


@app.route("POST", "/files/upload")
def upload(req):
    parts = parse_multipart(req)
    if "file" not in parts:
        return error(422, [{"loc": ["body", "file"], "msg": "field required"}])
    filename, content = parts["file"]
    if len(content) > MAX_UPLOAD_BYTES:
        return error(413, "File too large")
    file_id = secrets.token_hex(8)
    with open(os.path.join(UPLOAD_DIR, file_id), "wb") as fh:
        fh.write(content)
    meta = {"id": file_id, "filename": filename or "upload.bin", "size": len(content), "uploaded_at": now()}
    with _lock:
        _files[file_id] = meta
    return json_response(201, meta)


@app.route("GET", "/files")
def list_files(req):
    with _lock:
        return json_response(200, {"files": list(_files.values())})


@app.route("GET", "/files/{file_id}/download")
def download(req):
    with _lock:
        meta = _files.get(req.params["file_id"])
    if meta is None:
        return error(404, "File not found")
    with open(os.path.join(UPLOAD_DIR, meta["id"]), "rb") as fh:
        content = fh.read()
    return Response(
        200, content, "application/octet-stream", {"Content-Disposition": f'attachment; filename="{meta["filename"]}"'}
    )


@app.route("POST", "/workflows")
def create_workflow(req):
    body = req.json()
    if not body.get("name"):
        return error(422, [{"loc": ["body", "name"], "msg": "field required"}])
    workflow = {
        "id": secrets.token_hex(8),
        "name": body["name"],
        "steps": body.get("steps", []),
        "created_at": now(),
        "executions": [],
    }
    with _lock:
        _workflows[workflow["id"]] = workflow
    return json_response(201, {k: v for k, v in workflow.items() if k != "executions"})


@app.route("POST", "/workflows/{workflow_id}/execute")
def execute(req):
    with _lock:
        workflow = _workflows.get(req.params["workflow_id"])
        if workflow is None:
            return error(404, "Workflow not found")
        execution = {
            "id": secrets.token_hex(8),
            "status": "completed",
            "started_at": now(),
            "steps_run": len(workflow["steps"]),
        }
        workflow["executions"].append(execution)
    return json_response(202, {"execution_id": execution["id"], "status": "accepted"})


@app.route("GET", "/workflows/{workflow_id}/history")
def history(req):
    with _lock:
        workflow = _workflows.get(req.params["workflow_id"])
        if workflow is None:
            return error(404, "Workflow not found")
        return json_response(200, {"workflow_id": workflow["id"], "executions": list(workflow["executions"])})


if __name__ == "__main__":
    app.serve(int(env("PORT", "8006")))
