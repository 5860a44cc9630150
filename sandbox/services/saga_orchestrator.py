"""saga-orchestrator (port 8008): distributed transactions with compensation.

POST /sagas/start, GET /sagas/{id}, POST /sagas/{id}/steps (execute the next step),
POST /sagas/{id}/cancel (compensate the executed steps in reverse). Health at /health/ (with the
trailing slash, as in the real service; /health redirects like FastAPI does).
"""

from __future__ import annotations

import secrets
import threading

from common import App, Response, check_redis, env, error, health_response, json_response

app = App("saga-orchestrator")
_lock = threading.Lock()
_sagas: dict[str, dict] = {}


@app.route("GET", "/health/")
def health(req):
    return health_response({"redis": check_redis()})


@app.route("GET", "/health")
def health_redirect(req):
    return Response(307, b"", "text/plain", {"Location": "/health/"})


@app.route("POST", "/sagas/start")
def start(req):
    body = req.json()
    steps = body.get("steps") or ["reserve", "charge", "confirm"]
    saga = {
        "id": secrets.token_hex(8),
        "type": body.get("type", "generic"),
        "status": "started",
        "steps": steps,
        "executed": [],
        "compensated": [],
    }
    with _lock:
        _sagas[saga["id"]] = saga
    return json_response(201, saga)


@app.route("GET", "/sagas/{saga_id}")
def get(req):
    with _lock:
        saga = _sagas.get(req.params["saga_id"])
        return json_response(200, saga) if saga else error(404, "Saga not found")


@app.route("POST", "/sagas/{saga_id}/steps")
def step(req):
    with _lock:
        saga = _sagas.get(req.params["saga_id"])
        if saga is None:
            return error(404, "Saga not found")
        if saga["status"] not in ("started", "running"):
            return error(409, f"Saga is {saga['status']}")
        pending = [s for s in saga["steps"] if s not in saga["executed"]]
        if not pending:
            return error(409, "No pending step")
        saga["executed"].append(pending[0])
        saga["status"] = "running" if len(pending) > 1 else "completed"
        return json_response(200, {"saga_id": saga["id"], "step": pending[0], "status": saga["status"]})


@app.route("POST", "/sagas/{saga_id}/cancel")
def cancel(req):
    with _lock:
        saga = _sagas.get(req.params["saga_id"])
        if saga is None:
            return error(404, "Saga not found")
        saga["compensated"] = list(reversed(saga["executed"]))
        saga["status"] = "compensated"
        return json_response(200, {"saga_id": saga["id"], "status": "compensated", "compensated": saga["compensated"]})


if __name__ == "__main__":
    app.serve(int(env("PORT", "8008")))
