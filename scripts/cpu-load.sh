#!/usr/bin/env bash
# Run a command beside N CPU-bound processes, as on a busy machine:
#     scripts/cpu-load.sh N COMMAND [ARGS...]
# The burners are killed when this script ends (normally, on error, on Ctrl-C or TERM), and each also
# stops by itself once this script is gone (they watch their parent), so none outlives a killed run.
# Exits with the command's status.
set -euo pipefail
count="${1:?usage: cpu-load.sh N COMMAND [ARGS...]}"
shift
burners=()
stop_burners() {
    ((${#burners[@]})) && kill "${burners[@]}" 2>/dev/null || true
}
trap stop_burners EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for ((i = 0; i < count; i++)); do
    python3 -c 'import os
parent = os.getppid()
while os.getppid() == parent: pass' &
    burners+=("$!")
done
echo "cpu-load: ${count} CPU burners running (pids ${burners[*]}) beside: $*" >&2
status=0
"$@" || status=$?
exit "$status"
