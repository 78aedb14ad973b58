#!/usr/bin/env bash
# Checks for what `make bench` runs besides Go: nginx and wrk (Debian), plus
# taskset (util-linux). As root, installs the missing ones with apt-get;
# otherwise prints the command and fails. Idempotent.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: missing ${need[*]}; install them: sudo apt-get install -y ${need[*]}" >&2
	exit 1
fi
echo "bench: installing ${need[*]}"
apt-get update -qq
# The nginx package may start a default server on port 80; the harness does
# not use it and starts its own nginx on a free port.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
