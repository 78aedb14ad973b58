#!/usr/bin/env bash
# Starts the demo: httpbin on 127.0.0.1:8080 and the gateway on :9080 with
# conf/config.yaml, both in the foreground; Ctrl-C stops both.
set -euo pipefail
bin=${1:-bin/heimdall}

"$bin" httpbin --listen 127.0.0.1:8080 &
httpbin_pid=$!
trap 'kill $httpbin_pid 2>/dev/null; wait $httpbin_pid 2>/dev/null || true' EXIT INT TERM

echo "gateway: try  curl -s localhost:9080/httpbin/get  and  curl -s -d hello localhost:9080/httpbin/post"
echo "dashboard: http://127.0.0.1:9180/ui/"
"$bin" run -c conf/config.yaml
