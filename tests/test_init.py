"""``remediate init`` on real stacks: the shop stack (never seen by any playbook) and the sandbox.

What it writes must make ``remediate check`` pass on the healthy stack, for real; it never overwrites
without --force; bad input is one line and exit 2. The derivation rules themselves (one-shot services,
udp and ephemeral ports, healthcheck URLs) are pure logic and tested on compose-config-shaped data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from remediator import scaffold, templating

from .stacks_support import shop_stack
from .support import PORT_SHIFT, json_out, remediate, sandbox_dir

SANDBOX_OFFSET = 23000 + PORT_SHIFT


def _one_line_exit_2(proc) -> None:
    assert proc.returncode == 2, proc
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("remediate: ")


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    missing = remediate("init", str(tmp_path / "nowhere"))
    _one_line_exit_2(missing)
    assert "no such directory" in missing.stderr

    a_file = tmp_path / "compose.yml"
    a_file.write_text("services: {}\n")
    not_dir = remediate("init", str(a_file))
    _one_line_exit_2(not_dir)
    assert "not a directory" in not_dir.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    no_compose = remediate("init", str(empty))
    _one_line_exit_2(no_compose)
    assert "no compose file" in no_compose.stderr and "compose.yaml" in no_compose.stderr
    assert list(empty.iterdir()) == []

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "compose.yaml").write_text("services:\n  web: [not, a, service]\n")
    invalid = remediate("init", str(broken))
    _one_line_exit_2(invalid)  # compose's own first error line
    assert "compose project" in invalid.stderr and not (broken / "inventory.yml").exists()

    bad_name = remediate("init", str(tmp_path), "--target", "my target")
    _one_line_exit_2(bad_name)
    assert "--target 'my target'" in bad_name.stderr and not (tmp_path / "inventory.yml").exists()

    named = remediate("init", str(tmp_path), "--file", "other.yml")
    _one_line_exit_2(named)
    assert "other.yml: no such compose file" in named.stderr


def test_init_on_the_shop_stack_then_check_passes(tmp_path_factory: pytest.TempPathFactory):
    with shop_stack(tmp_path_factory, offset=10) as shop:
        d = shop.directory
        before = sorted(p.name for p in d.iterdir())
        dry = remediate("init", str(d), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert sorted(p.name for p in d.iterdir()) == before  # --dry-run writes nothing
        assert f"# --- {d / 'inventory.yml'}" in dry.stdout

        first = remediate("init", str(d))
        assert first.returncode == 0, first.stderr
        for name in ("inventory.yml", "checks/services.yml", "playbooks/generic.yml"):
            assert f"wrote {d / name}" in first.stdout  # it shows what it writes

        inventory = yaml.safe_load((d / "inventory.yml").read_text())
        target = inventory["targets"][shop.project]
        assert target["compose"]["project"] == shop.project  # compose's own name (from .env)
        assert target["compose"]["files"] == ["compose.yml"]
        assert target["compose"]["env_files"] == [".env", "storefront.env"]
        assert target["urls"] == {"catalog": f"http://{{{{ host }}}}:{shop.catalog_port}"}

        checks = {c["id"]: c for c in yaml.safe_load((d / "checks/services.yml").read_text())["checks"]}
        assert set(checks) == {
            "catalog.running",
            f"catalog.port.{shop.catalog_port}",
            "catalog.http.health",
            "storefront.running",
            f"storefront.port.{shop.storefront_port}",
            "worker.running",
        }
        assert checks["catalog.running"]["expect"] == {"state": "running", "health": "healthy"}
        assert checks["storefront.running"]["expect"] == {"state": "running"}  # no healthcheck: no health
        assert checks["storefront.running"]["requires"] == ["catalog.running"]  # from depends_on
        assert checks["worker.running"]["requires"] == ["catalog.running"]
        assert checks["catalog.http.health"]["probe"]["url"] == "{{ urls.catalog }}/health"

        check = remediate("check", "--json", cwd=d)
        doc = json_out(check)
        assert check.returncode == 0, check.stdout
        assert (doc["passed"], doc["total"]) == (6, 6)

        # a stopped service is seen, and the copied generic entry heals it
        shop.compose("stop", "worker")
        broken = json_out(remediate("check", "--json", cwd=d))
        assert broken["passed"] == 5
        healed = remediate("apply", "--json", cwd=d)
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert json_out(healed)["final_rate"] == 1.0

        # never overwrites without --force, and says how
        (d / "checks/services.yml").write_text("# mine\n")
        again = remediate("init", str(d))
        _one_line_exit_2(again)
        assert "already exists; pass --force" in again.stderr
        assert (d / "checks/services.yml").read_text() == "# mine\n"
        forced = remediate("init", str(d), "--force")
        assert forced.returncode == 0, forced.stderr
        assert "catalog.running" in (d / "checks/services.yml").read_text()


@pytest.mark.sandbox
def test_init_on_the_sandbox_then_check_passes(tmp_path_factory: pytest.TempPathFactory):
    with sandbox_dir(tmp_path_factory, "init", SANDBOX_OFFSET) as box:
        shutil.move(box.inventory, box.workdir / "sandbox-inventory.yml")  # sandbox.py wrote its own
        init = remediate("init", str(box.workdir))
        assert init.returncode == 0, init.stderr
        target = yaml.safe_load(box.inventory.read_text())["targets"][box.project]
        assert target["compose"]["project"] == box.project
        check = remediate("check", "--json", "-i", str(box.inventory))
        doc = json_out(check)
        failing = [r for r in doc["checks"] if r["status"] != "passed"]
        assert check.returncode == 0, failing
        ids = {r["id"] for r in doc["checks"]}
        # every service, healthy where it has a healthcheck; the gateway's health URL on its published port
        assert {"postgres.running", "redis.running", "api-gateway.running", "log-shipper.running"} <= ids
        assert "api-gateway.http.health" in ids
        assert f"api-gateway.port.{8000 + SANDBOX_OFFSET}" in ids


def _service(**cfg):
    return cfg


def test_derivation_rules_on_compose_config_data():
    services = {
        "db": _service(healthcheck={"test": ["CMD-SHELL", "pg_isready"]}),
        "migrate": _service(depends_on={"db": {"condition": "service_healthy"}}),
        "api": _service(
            depends_on={
                "db": {"condition": "service_healthy"},
                "migrate": {"condition": "service_completed_successfully"},
            },
            ports=[
                {"target": 80, "published": "8080", "protocol": "tcp", "host_ip": "0.0.0.0"},
                {"target": 53, "published": "5353", "protocol": "udp"},
                {"target": 9000, "protocol": "tcp"},  # ephemeral: a new host port at each start
                {"target": 9100, "published": "9100", "protocol": "tcp", "host_ip": "10.1.2.3"},
            ],
            healthcheck={"test": ["CMD-SHELL", "curl -fsS http://localhost/api/health || exit 1"]},
        ),
        "off": _service(healthcheck={"test": ["NONE"]}, ports=[{"target": 1, "published": "7001"}]),
        "bare": _service(
            ports=[{"target": 9090, "published": "19090", "protocol": "tcp"}],
            healthcheck={"test": ["CMD-SHELL", "curl -fsS localhost:9090/ping && redis-cli -h 127.0.0.1 ping"]},
        ),
        "cache": _service(  # not an HTTP client: a host:port in it is no URL
            ports=[{"target": 6379, "published": "6379", "protocol": "tcp"}],
            healthcheck={"test": ["CMD", "sh", "-c", "nc -z 127.0.0.1:6379"]},
        ),
        "web-ui": _service(
            ports=[{"target": 3000, "published": "3000", "protocol": "tcp"}],
            healthcheck={"test": ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:3000/"]},
        ),
    }
    checks, urls = scaffold._checks(services)
    by_id = {c["id"]: c for c in checks}
    assert by_id["migrate.running"]["expect"] == {"state": "exited"}
    assert by_id["api.running"]["requires"] == ["db.running", "migrate.running"]
    assert by_id["db.running"]["expect"]["health"] == "healthy"
    assert by_id["off.running"]["expect"] == {"state": "running"}  # a disabled healthcheck is none
    ports = {i for i in by_id if ".port." in i}
    assert ports == {
        "api.port.8080",
        "api.port.9100",
        "bare.port.19090",
        "cache.port.6379",
        "off.port.7001",
        "web-ui.port.3000",
    }
    assert by_id["bare.http.ping"]["probe"]["url"] == "{{ urls.bare }}/ping"  # curl without a scheme
    assert not [i for i in by_id if i.startswith("cache.http")]
    assert by_id["api.port.9100"]["probe"]["host"] == "10.1.2.3"
    assert by_id["api.http.api-health"]["probe"]["url"] == "{{ urls.api }}/api/health"  # port 80 -> 8080
    # a service name with a dash becomes a name a template can use
    assert urls == {
        "api": "http://{{ host }}:8080",
        "bare": "http://{{ host }}:19090",
        "web_ui": "http://{{ host }}:3000",
    }
    url = by_id["web-ui.http.root"]["probe"]["url"]
    assert templating.render_str(url, {"urls": {"web_ui": "http://h:3000"}}) == "http://h:3000/"
