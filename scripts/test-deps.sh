#!/usr/bin/env bash
# Installs and starts what the test suite needs on a fresh Debian machine:
# redis-server on 127.0.0.1:6379 (real Redis for the network-access tests),
# node/npm (to build the AssemblyScript test plugin) and etcd-server (the
# cluster-mode tests start their own etcd per test package, see
# internal/testutil/etcdtest), chromium and playwright-core (npm ci in
# internal/dashboard/testdata/browser) for the dashboard's browser test.
# Idempotent.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "test-deps: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

port=${HEIMDALL_TEST_REDIS_PORT:-6379}
if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
  echo "test-deps: starting redis-server on 127.0.0.1:$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --logfile "${TMPDIR:-/tmp}/heimdall-test-redis.log"
  for _ in $(seq 1 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$port" ping >/dev/null
fi

browser=internal/dashboard/testdata/browser
if [ ! -d "$browser/node_modules/playwright-core" ]; then
  echo "test-deps: npm ci in $browser (playwright-core)"
  (cd "$browser" && npm ci --no-audit --no-fund --silent)
fi
