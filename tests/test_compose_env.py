"""The inventory's ``env_files`` are what remediator reads and edits; compose keeps its own ``.env``.

Passing them to compose as ``--env-file`` replaced ``.env`` for compose's substitution, so a user's
``.env`` was silently ignored. Here the shop stack's ``.env`` sets the published ports (values that
differ from compose.yml's defaults) and the inventory names only ``storefront.env``: compose must
still publish the ``.env`` ports, for real, and remediator must still read the inventory's file.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from remediator.backends.compose import Compose
from remediator.facts import read_env_files
from remediator.loader import load_inventory

from .stacks_support import BASE_PORT, copy_shop
from .support import require_engine, wait_for


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.load(resp)


def _answers(url: str) -> bool:
    try:
        _get(url)
        return True
    except OSError:
        return False


def test_compose_keeps_its_dotenv_when_the_inventory_names_other_env_files(tmp_path: Path):
    require_engine()
    shop = copy_shop(tmp_path, offset=20)
    assert shop.catalog_port != BASE_PORT  # the .env value differs from compose.yml's default
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "targets:\n"
        "  shop:\n"
        f"    compose: {{project: {shop.project}, directory: shop, files: [compose.yml],\n"
        "              env_files: [storefront.env]}\n"
    )
    project = load_inventory(inventory).select()[0].compose
    compose = Compose(project)
    assert "--env-file" not in compose.argv("config")

    published = {s: c["ports"][0]["published"] for s, c in compose.config()["services"].items() if c.get("ports")}
    assert published == {"catalog": str(shop.catalog_port), "storefront": str(shop.storefront_port)}

    env = read_env_files(project.env_files)  # what the `env` leaf and {{ env_file.X }} see
    assert env["GREETING"] == "Welcome to the shop"
    assert "CATALOG_PORT" not in env  # .env is compose's; the inventory did not name it

    try:
        up = compose.up(wait=True, timeout=90)
        assert up.ok, up.stderr
        storefront = f"http://127.0.0.1:{shop.storefront_port}/"
        assert wait_for(lambda: _answers(storefront), timeout=15)  # on the .env port, for real
        assert _get(storefront)["greeting"] == "Welcome to the shop"

        # an edit of the inventory's env file reaches the service; the ports stay .env's
        env_file = shop.directory / "storefront.env"
        env_file.write_text(env_file.read_text().replace("Welcome to the shop", "Hello again"))
        assert compose.up(["storefront"], wait=True, timeout=90).ok
        assert wait_for(lambda: _answers(storefront), timeout=15)
        assert _get(storefront)["greeting"] == "Hello again"
    finally:
        compose.down()
