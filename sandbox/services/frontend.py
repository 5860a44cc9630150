"""frontend (port 3000): the Next.js app's surface the suite touches: /api/health, /login, /."""

from __future__ import annotations

from common import App, env, html_response, json_response

app = App("frontend")
API_URL = env("NEXT_PUBLIC_API_URL", "http://localhost:8000")

PAGE = """<!doctype html>
<html><head><title>PyAirtable{title}</title></head>
<body data-api="{api}"><main>{body}</main></body></html>
"""


@app.route("GET", "/api/health")
def health(req):
    return json_response(200, {"status": "healthy", "service": "frontend"})


@app.route("GET", "/")
def index(req):
    return html_response(
        200, PAGE.format(title="", api=API_URL, body='<h1>PyAirtable</h1><a href="/login">Sign in</a>')
    )


@app.route("GET", "/login")
def login(req):
    form = (
        '<h1>Sign in</h1><form method="post" action="/api/auth/login">'
        '<input name="username"><input name="password" type="password">'
        "<button>Sign in</button></form>"
    )
    return html_response(200, PAGE.format(title=" - Sign in", api=API_URL, body=form))


if __name__ == "__main__":
    app.serve(int(env("PORT", "3000")))
