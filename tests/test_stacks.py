"""The shop stack's fixture keeps its promises: a private project, shifted ports, nothing left behind,
also when bringing it up fails half-way."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from .stacks_support import BASE_PORT, SERVICES, shop_stack
from .support import PORT_SHIFT, require_engine


def _project_objects(client, project: str) -> list[str]:
    label = {"label": f"com.docker.compose.project={project}"}
    containers = [c.name for c in client.containers.list(all=True, filters=label)]
    return containers + [n.name for n in client.networks.list(filters=label)]


def test_the_shop_stack_is_up_private_and_gone_afterwards(tmp_path_factory: pytest.TempPathFactory):
    client = require_engine()
    with shop_stack(tmp_path_factory, offset=30) as shop:
        assert shop.catalog_port == BASE_PORT + 30 + PORT_SHIFT
        running = {
            c.labels["com.docker.compose.service"]
            for c in client.containers.list(filters={"label": f"com.docker.compose.project={shop.project}"})
        }
        assert running == set(SERVICES)
        with urllib.request.urlopen(f"http://127.0.0.1:{shop.storefront_port}/", timeout=5) as resp:
            assert json.load(resp)["greeting"] == "Welcome to the shop"  # from its env_file
    assert _project_objects(client, shop.project) == []


def test_a_failed_set_up_is_torn_down_too(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    client = require_engine()
    # the shell environment beats .env in compose's substitution: an image that does not exist (never pulled)
    monkeypatch.setenv("SHOP_IMAGE", "remediate-no-such-image:local")
    with pytest.raises(AssertionError, match="compose up"), shop_stack(tmp_path_factory, offset=31):
        pass  # never reached: up failed
    port = f"CATALOG_PORT={BASE_PORT + 31 + PORT_SHIFT}\n"
    copies = {e.resolve() for e in tmp_path_factory.getbasetemp().glob("shop*/shop/.env")}  # shopcurrent: a link
    (env,) = [e for e in copies if port in e.read_text()]
    project = re.search(r"COMPOSE_PROJECT_NAME=(\S+)", env.read_text()).group(1)
    assert _project_objects(client, project) == []
