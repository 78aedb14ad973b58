#!/usr/bin/env bash
# CPU-profiles the gateway under wrk load: builds bin/heimdall-pprof (the
# gateway with a pprof listener on $HEIMDALL_PPROF, bench/cmd/heimdall-pprof)
# and runs the side-by-side harness in profile mode (no plugin, headers
# plugin, heimdall plugin). Profiles and `go tool pprof -top` text land in
# build/bench/. Needs `make plugins` and what bench/deps.sh installs.
#
# Usage: bench/profile.sh [sidebyside flags, e.g. -duration 10s]
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
"$GO" build -o bin/heimdall-pprof ./bench/cmd/heimdall-pprof
exec "$GO" run ./bench/cmd/sidebyside -profile bin/heimdall-pprof -profile-out build/bench "$@"
