#!/usr/bin/env bash
# Build remediate-base:local from Debian packages when no registry can be reached.
# Idempotent: does nothing when the image exists. The apt mirror is read from this machine's own
# apt sources at run time; no host name is written into the repository.
set -euo pipefail

IMAGE="${BASE_IMAGE:-remediate-base:local}"
PACKAGES="python3,python3-psycopg2,python3-redis,python3-yaml,postgresql,redis-server"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
if [ "$IMAGE" != "remediate-base:local" ]; then
  echo "base-image: $IMAGE is not present; pulling it" >&2
  exec docker pull "$IMAGE"
fi

mirror() {
  # deb822 sources first (URIs: ...), then one-line sources (deb URL bookworm main).
  local uri
  uri=$(grep -hs -A3 '^Types: deb' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | awk '/^URIs:/ {print $2}' | grep -v -- '-security' | grep -E '/debian/?$' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | awk '{print $2}' | grep -v -- '-security' | grep -E '/debian/?$' | head -n1 || true)
  fi
  [ -n "$uri" ] || { echo "base-image: no Debian mirror found in the apt sources" >&2; exit 3; }
  echo "$uri"
}

command -v debootstrap >/dev/null 2>&1 || {
  echo "base-image: debootstrap is missing (apt-get install debootstrap)" >&2; exit 3; }

MIRROR=$(mirror)
DIR=$(mktemp -d /tmp/remediate-base.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
echo "base-image: debootstrap bookworm ($PACKAGES); this takes about 80 s" >&2
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$DIR" "$MIRROR" >"$DIR.log" 2>&1 || {
  echo "base-image: debootstrap failed; see $DIR.log" >&2; exit 3; }
rm -rf "$DIR"/var/cache/apt/archives/*.deb "$DIR"/var/lib/apt/lists/*
tar -C "$DIR" -c . | docker import -c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$IMAGE" >/dev/null
rm -f "$DIR.log"
echo "base-image: built $IMAGE" >&2
