"""mcp-server (port 8001): lists the tools the LLM may call; tools go through airtable-gateway."""

from __future__ import annotations

from common import App, check_http, env, health_response, json_response

app = App("mcp-server")
AIRTABLE_GATEWAY_URL = env("AIRTABLE_GATEWAY_URL", "http://airtable-gateway:8002")

TOOLS = [
    {"name": "list_tables", "description": "List the tables of the configured base"},
    {"name": "get_records", "description": "Read records of a table"},
    {"name": "create_record", "description": "Create a record"},
]


@app.route("GET", "/health")
def health(req):
    return health_response({"airtable-gateway": check_http(f"{AIRTABLE_GATEWAY_URL}/health")})


@app.route("GET", "/tools")
def tools(req):
    return json_response(200, {"tools": TOOLS})


if __name__ == "__main__":
    app.serve(int(env("PORT", "8001")))
