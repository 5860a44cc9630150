"""platform-services (port 8007): users and authentication.

Settings (environment): DATABASE_URL, JWT_SECRET, JWT_EXPIRE_MINUTES, PASSWORD_HASH_ROUNDS
(pbkdf2-sha256 with 1000 * 2**rounds iterations: 4 is fast, each +1 doubles the cost),
LOGIN_IDENTIFIERS (comma list of the body fields login accepts, in order: "email,username").
The users table comes from migrate.py, never from service start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time

from common import App, check_db, db_connect, env, error, health_response, json_response, log

app = App("platform-services")

JWT_SECRET = env("JWT_SECRET", "")
JWT_EXPIRE_MINUTES = int(env("JWT_EXPIRE_MINUTES", "60"))
HASH_ROUNDS = int(env("PASSWORD_HASH_ROUNDS", "4"))
LOGIN_IDENTIFIERS = [s.strip() for s in env("LOGIN_IDENTIFIERS", "email,username").split(",") if s.strip()]

_revoked: set[str] = set()
_revoked_lock = threading.Lock()


# --- passwords ---------------------------------------------------------------------------------


def _iterations(rounds: int) -> int:
    return 1000 * 2**rounds


def hash_password(password: str, rounds: int = HASH_ROUNDS) -> str:
    salt = secrets.token_hex(16)
    iterations = _iterations(rounds)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def verify_password(password: str, stored: str) -> bool:
    _, iterations, salt, digest = stored.split("$")
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(candidate, digest)


def needs_rehash(stored: str) -> bool:
    return int(stored.split("$")[1]) != _iterations(HASH_ROUNDS)


# --- JWT (HS256) -------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(user_id: int, username: str) -> str:
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {
        "sub": str(user_id),
        "username": username,
        "iat": now,
        "exp": now + JWT_EXPIRE_MINUTES * 60,
        "jti": secrets.token_hex(8),
    }
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    signature = hmac.new(JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def decode_token(token: str) -> dict | None:
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        expected = hmac.new(JWT_SECRET.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature_b64)):
            return None
        payload = json.loads(_unb64(payload_b64))
    except Exception:
        return None
    if payload.get("exp", 0) < time.time():
        return None
    with _revoked_lock:
        if payload.get("jti") in _revoked:
            return None
    return payload


def missing(field: str):
    """FastAPI's 422 for a missing body field."""
    return json_response(
        422, {"detail": [{"loc": ["body", field], "msg": "field required", "type": "value_error.missing"}]}
    )


# --- routes ------------------------------------------------------------------------------------


@app.route("GET", "/health")
def health(req):
    return health_response({"database": check_db()})


@app.route("POST", "/auth/register")
def register(req):
    body = req.json()
    for field in ("username", "email", "password"):
        if not body.get(field):
            return missing(field)
    password_hash = hash_password(body["password"])
    import psycopg2

    conn = db_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO users (username, email, password_hash) VALUES (%s, %s, %s) RETURNING id",
                (body["username"], body["email"], password_hash),
            )
            user_id = cur.fetchone()[0]
    except psycopg2.errors.UniqueViolation:
        return error(409, "User already exists")
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0]
        log(f"ERROR register failed: psycopg2.errors.{type(exc).__name__}: {first}")
        return error(500, "Internal Server Error")
    finally:
        conn.close()
    return json_response(201, {"id": user_id, "username": body["username"], "email": body["email"]})


@app.route("POST", "/auth/login")
def login(req):
    body = req.json()
    field = next((name for name in LOGIN_IDENTIFIERS if body.get(name)), None)
    if field is None:
        return missing(LOGIN_IDENTIFIERS[0] if LOGIN_IDENTIFIERS else "email")
    if not body.get("password"):
        return missing("password")
    conn = db_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT id, username, password_hash FROM users WHERE {field} = %s", (body[field],))
            row = cur.fetchone()
            if row is None:
                hash_password(body["password"])  # same cost as a real check: no user enumeration
                return error(401, "Invalid credentials")
            user_id, username, stored = row
            if not verify_password(body["password"], stored):
                return error(401, "Invalid credentials")
            if needs_rehash(stored):  # the configured cost changed: upgrade the stored hash
                cur.execute(
                    "UPDATE users SET password_hash = %s WHERE id = %s", (hash_password(body["password"]), user_id)
                )
    finally:
        conn.close()
    return json_response(
        200,
        {"access_token": make_token(user_id, username), "token_type": "bearer", "expires_in": JWT_EXPIRE_MINUTES * 60},
    )


@app.route("GET", "/auth/verify")
def verify(req):
    claims = decode_token(req.bearer() or "")
    if claims is None:
        return error(401, "Invalid or expired token")
    return json_response(200, {"valid": True, "user_id": claims["sub"], "username": claims["username"]})


@app.route("POST", "/auth/logout")
def logout(req):
    claims = decode_token(req.bearer() or "")
    if claims is None:
        return error(401, "Invalid or expired token")
    with _revoked_lock:
        _revoked.add(claims["jti"])
    return json_response(200, {"message": "Logged out"})


if __name__ == "__main__":
    log(f"settings: PASSWORD_HASH_ROUNDS={HASH_ROUNDS} LOGIN_IDENTIFIERS={','.join(LOGIN_IDENTIFIERS)}")
    app.serve(int(env("PORT", "8007")))
