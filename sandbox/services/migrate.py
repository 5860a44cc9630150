"""Database migrations of platform-services (the real stack ran Alembic; tables are never created
at service start). Idempotent: applies the versions not yet recorded in schema_migrations.

    python3 /app/migrate.py
"""

from __future__ import annotations

import os
import sys
import time

import psycopg2

MIGRATIONS = [
    (
        "0001_create_users",
        """
        CREATE TABLE users (
            id            SERIAL PRIMARY KEY,
            username      TEXT NOT NULL UNIQUE,
            email         TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
        )
    """,
    ),
]


def connect(retries: int = 30):
    for attempt in range(retries):
        try:
            return psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3)
        except psycopg2.OperationalError as exc:
            if attempt == retries - 1:
                raise
            print(f"migrate: waiting for the database ({str(exc).strip().splitlines()[0]})", flush=True)
            time.sleep(1)


def main() -> int:
    conn = connect()
    conn.autocommit = False
    with conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        applied = 0
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            print(f"migrate: applied {version}", flush=True)
            applied += 1
        if not applied:
            print("migrate: database is at head", flush=True)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
