"""The worker: polls the catalog and logs what it sees (its logs are its only output)."""

import os
import time
import urllib.request

while True:
    try:
        with urllib.request.urlopen(f"{os.environ['CATALOG_URL']}/items", timeout=2) as resp:
            print(f"worker: catalog answered {resp.status}", flush=True)
    except OSError as exc:
        print(f"worker: catalog unreachable: {exc}", flush=True)
    time.sleep(float(os.environ.get("POLL_SECONDS", "2")))
