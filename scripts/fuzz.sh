#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzXxx in a *_test.go under
# internal/) for FUZZTIME each, one after the other:
#
#   scripts/fuzz.sh              # FUZZTIME=60s (make fuzz)
#   FUZZTIME=3s scripts/fuzz.sh  # the short pass of make test
#
# Each target starts from its seed corpus (testdata/fuzz/FuzzXxx, which
# `go test` also runs as ordinary tests). A crash fails the run; go test
# writes the failing input to testdata/fuzz/FuzzXxx/ beside the seeds: fix
# the bug and commit the input, it then runs with every `go test`.
# The last lines are a summary: package, target, executions, result.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
# Workers per target; the fuzzer's default is GOMAXPROCS.
FUZZ_PARALLEL=${FUZZ_PARALLEL:-$(nproc 2>/dev/null || echo 2)}

mapfile -t targets < <(grep -rHoE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --include='*_test.go' internal |
  sed -E 's|^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*|\1 \2|' | sort -u)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets found" >&2
  exit 1
fi

summary=()
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  echo "fuzz: ./$dir $name for $FUZZTIME"
  "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel "$FUZZ_PARALLEL" "./$dir" >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result=FAIL
    failed=1
    cat "$log"
  fi
  summary+=("$(printf '%-28s %-24s %10s  %s' "./$dir" "$name" "${execs:-0}" "$result")")
done
echo
printf '%-28s %-24s %10s  %s\n' package target execs result
printf '%s\n' "${summary[@]}"
exit $failed
