"""llm-orchestrator (port 8003): chat sessions kept in Redis; the model is Gemini (GEMINI_API_KEY).
The sandbox never calls Gemini: it echoes, so no network is needed."""

from __future__ import annotations

import json
import secrets

from common import App, check_redis, env, error, health_response, json_response, redis_client

app = App("llm-orchestrator")
GEMINI_API_KEY = env("GEMINI_API_KEY", "")


@app.route("GET", "/health")
def health(req):
    return health_response({"redis": check_redis(), "gemini_api_key": "ok" if GEMINI_API_KEY else "missing"})


@app.route("POST", "/chat")
def chat(req):
    body = req.json()
    if not body.get("message"):
        return error(422, [{"loc": ["body", "message"], "msg": "field required"}])
    session = body.get("session_id") or secrets.token_hex(8)
    reply = {"role": "assistant", "content": f"(sandbox) you said: {body['message']}"}
    key = f"chat:{session}"
    redis_client().rpush(key, json.dumps({"role": "user", "content": body["message"]}), json.dumps(reply))
    redis_client().expire(key, 3600)
    return json_response(200, {"session_id": session, "reply": reply["content"]})


if __name__ == "__main__":
    app.serve(int(env("PORT", "8003")))
