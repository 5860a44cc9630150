#!/usr/bin/env bash
# Make sure a Docker Engine answers. On a bare Debian machine where we are root, install Debian's
# docker.io and start dockerd in the background; otherwise say how to start one and fail.
set -euo pipefail

engine_up() { docker info >/dev/null 2>&1; }

if engine_up; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "engine: no Docker Engine answers and we are not root; start one (e.g. 'sudo systemctl start docker')" >&2
  exit 3
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  echo "engine: installing docker.io and debootstrap from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "engine: starting dockerd in the background (log: /var/log/dockerd.log)" >&2
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

# A ceiling, not a wait: on a loaded machine dockerd can take well over a minute to answer.
for _ in $(seq 1 120); do
  if engine_up; then
    echo "engine: Docker Engine is up" >&2
    exit 0
  fi
  sleep 1
done
echo "engine: dockerd did not answer within 120 s; see /var/log/dockerd.log" >&2
exit 3
