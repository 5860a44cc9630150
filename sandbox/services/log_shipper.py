"""log-shipper: a promtail stand-in. Reads its YAML config (LOG_SHIPPER_CONFIG) and refuses to
start on keys it does not support, as promtail does; with restart: unless-stopped that is a crash
loop. A valid config makes it run and report what it would ship."""

from __future__ import annotations

import os
import signal
import sys
import time

import yaml

SUPPORTED = {
    "server": {"http_listen_port", "grpc_listen_port", "log_level"},
    "positions": {"filename"},
    "clients": {"url", "tenant_id", "timeout", "backoff_config", "external_labels"},
    "scrape_configs": None,  # free-form
}


def log(message: str) -> None:
    sys.stdout.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())} log-shipper {message}\n")
    sys.stdout.flush()


def validate(config: dict) -> list[str]:
    unknown = [key for key in config if key not in SUPPORTED]
    for section, keys in SUPPORTED.items():
        if keys is None or section not in config:
            continue
        items = config[section] if isinstance(config[section], list) else [config[section]]
        for item in items:
            if isinstance(item, dict):
                unknown += [key for key in item if key not in keys]
    return unknown


def main() -> int:
    path = os.environ.get("LOG_SHIPPER_CONFIG", "/etc/log-shipper/config.yml")
    try:
        with open(path) as fh:
            config = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        log(f"error: cannot read config {path}: {exc}")
        return 1
    unknown = validate(config)
    if unknown:
        log(f"error: unsupported config keys: {', '.join(unknown)}")
        return 1
    urls = [c.get("url") for c in config.get("clients", [])]
    log(f"started; shipping {len(config.get('scrape_configs', []))} scrape configs to {', '.join(urls)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(60)
        log("heartbeat: 0 entries pending")


if __name__ == "__main__":
    sys.exit(main())
