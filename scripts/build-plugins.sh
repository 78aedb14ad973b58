#!/usr/bin/env bash
# Builds every Go plugin under plugins/ into build/plugins/<name>.wasm
# (GOOS=wasip1, -buildmode=c-shared), in parallel.
#
# Usage: scripts/build-plugins.sh [name...]   (default: all plugins)
# Env:   GO (default: go), OUT (default: build/plugins), JOBS (default: nproc)
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
OUT=${OUT:-build/plugins}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ "$#" -gt 0 ]; then
	names=("$@")
else
	names=()
	for dir in plugins/*/; do
		dir=${dir%/}
		# A plugin is a directory with a main package of its own.
		if ls "$dir"/*.go >/dev/null 2>&1; then
			names+=("$(basename "$dir")")
		fi
	done
fi
if [ "${#names[@]}" -eq 0 ]; then
	echo "build-plugins: no plugins found" >&2
	exit 1
fi

mkdir -p "$OUT"
export GO OUT
printf '%s\n' "${names[@]}" | xargs -P "$JOBS" -I{} sh -c '
	start=$(date +%s%N)
	if GOOS=wasip1 GOARCH=wasm "$GO" build -trimpath -buildmode=c-shared -o "$OUT/{}.wasm" "./plugins/{}"; then
		end=$(date +%s%N)
		echo "built $OUT/{}.wasm ($(wc -c <"$OUT/{}.wasm") bytes, $(( (end - start) / 1000000 )) ms)"
	else
		echo "build-plugins: {} failed" >&2
		exit 255
	fi
'
