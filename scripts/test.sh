#!/usr/bin/env bash
# The test command (README, CI: .ci/run). On a fresh machine it installs what it needs, then runs
# build, typecheck, lint, dependency rules, unit tests and integration tests, and ends with a summary:
#   # tests N / # pass N / # fail N / # skipped N / # todo N   and last   "N passed, N failed"
#
# Usage: scripts/test.sh [all|static|unit|integration] [test files...]
#   all (default)  everything below, in order; keeps going after a failure and reports all of them
#   static         build, typecheck, lint, cycles
#   unit           test/unit/**/*.test.ts          (or the given files)
#   integration    test/integration/**/*.test.ts   (or the given files), one file at a time
# Environment:
#   TEST_TIMEOUT=900     seconds a test, and a test file, may take (node --test-timeout)
#   SUITE_TIMEOUT=7200   seconds a whole unit or integration run may take before it is killed
#   CI=true              a missing prerequisite fails the test instead of skipping it (test/helpers/ci.ts)
#   BATCHAIN_NO_INSTALL=1  do not run npm ci / apt-get, only report what is missing
#   ARTIFACTS_DIR        where TAP files go (default artifacts/test)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
# shellcheck source=scripts/ensure-deps.sh
source scripts/ensure-deps.sh

# Debian packages the tests need (installed only when missing). Add them here as tests arrive,
# e.g. redis-server, chromium, miniupnpd miniupnpd-nftables miniupnpc natpmpc nftables iproute2.
APT_PACKAGES=(redis-server chromium)

MODE=${1:-all}
[ "$#" -gt 0 ] && shift
case "$MODE" in
  all|static|unit|integration) ;;
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "unknown mode '$MODE' (all|static|unit|integration)" >&2; exit 2 ;;
esac
if [ "$#" -gt 0 ] && { [ "$MODE" = all ] || [ "$MODE" = static ]; }; then
  echo "test files can only be given with 'unit' or 'integration'" >&2
  exit 2
fi

TEST_TIMEOUT=${TEST_TIMEOUT:-900}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-7200}
ARTIFACTS_DIR=${ARTIFACTS_DIR:-$ROOT/artifacts/test}
export BATCHAIN_LOG_LEVEL=${BATCHAIN_LOG_LEVEL:-warn}
mkdir -p "$ARTIFACTS_DIR"

total_tests=0 total_pass=0 total_fail=0 total_cancelled=0 total_skipped=0 total_todo=0
failed_checks=()
step_report=()

# step NAME COMMAND...: a static check; counts as one test in the summary.
step () {
  local name=$1 start=$SECONDS rc=0
  shift
  printf '\n==> %s: %s\n' "$name" "$*"
  "$@" || rc=$?
  total_tests=$((total_tests + 1))
  if [ "$rc" -eq 0 ]; then
    total_pass=$((total_pass + 1))
    step_report+=("ok     $name ($((SECONDS - start))s)")
  else
    total_fail=$((total_fail + 1))
    failed_checks+=("$name")
    step_report+=("FAILED $name (exit $rc, $((SECONDS - start))s)")
  fi
}

# tap_count FILE KEY: the last "# KEY N" of a TAP file (node writes the totals at the end).
tap_count () {
  { grep -E "^# $2 [0-9]+\$" "$1" || true; } | tail -n 1 | awk '{ print $3 }'
}

# run_tests KIND [files...]: node's test runner over test/KIND/**/*.test.ts (or the given files).
run_tests () {
  local kind=$1 start=$SECONDS rc=0
  shift
  local files=()
  if [ "$#" -gt 0 ]; then
    files=("$@")
  elif [ -d "test/$kind" ]; then
    mapfile -t files < <(find "test/$kind" -type f -name '*.test.ts' | LC_ALL=C sort)
  fi
  printf '\n==> %s tests (%d files)\n' "$kind" "${#files[@]}"
  if [ "${#files[@]}" -eq 0 ]; then
    step_report+=("ok     $kind tests (no test files)")
    return 0
  fi
  local tap="$ARTIFACTS_DIR/$kind.tap"
  rm -f "$tap"
  local args=(
    --import tsx --test
    --test-timeout="$((TEST_TIMEOUT * 1000))"
    --test-reporter=spec --test-reporter-destination=stdout
    --test-reporter=tap --test-reporter-destination="$tap"
  )
  [ "$kind" = integration ] && args+=(--test-concurrency=1)
  timeout --kill-after=30 "$SUITE_TIMEOUT" node "${args[@]}" "${files[@]}" || rc=$?

  local tests pass fail cancelled skipped todo
  tests=$(tap_count "$tap" tests) pass=$(tap_count "$tap" pass) fail=$(tap_count "$tap" fail)
  cancelled=$(tap_count "$tap" cancelled) skipped=$(tap_count "$tap" skipped) todo=$(tap_count "$tap" todo)
  if [ -z "$tests" ]; then
    # The runner died (or was killed by SUITE_TIMEOUT) before writing its totals.
    echo "!! $kind tests: no summary from the test runner (exit $rc)"
    total_tests=$((total_tests + 1)) total_fail=$((total_fail + 1))
    failed_checks+=("$kind tests (runner exit $rc, no summary)")
    step_report+=("FAILED $kind tests (runner exit $rc, no summary, $((SECONDS - start))s)")
    return 0
  fi
  total_tests=$((total_tests + tests)) total_pass=$((total_pass + ${pass:-0}))
  total_fail=$((total_fail + ${fail:-0})) total_cancelled=$((total_cancelled + ${cancelled:-0}))
  total_skipped=$((total_skipped + ${skipped:-0})) total_todo=$((total_todo + ${todo:-0}))
  if [ "$rc" -ne 0 ] && [ "$((${fail:-0} + ${cancelled:-0}))" -eq 0 ]; then
    total_tests=$((total_tests + 1)) total_fail=$((total_fail + 1))
    failed_checks+=("$kind tests (runner exit $rc)")
  fi
  local status=ok
  [ "$rc" -eq 0 ] || status=FAILED
  step_report+=("$(printf '%-6s %s tests: %s pass, %s fail, %s cancelled, %s skipped (%ss)' \
    "$status" "$kind" "${pass:-0}" "${fail:-0}" "${cancelled:-0}" "${skipped:-0}" "$((SECONDS - start))")")
}

echo "==> dependencies"
ensure_node_modules
ensure_apt "${APT_PACKAGES[@]}"
# kube-apiserver, etcd, kubectl for test/helpers/kube.ts: built once from the Go module proxy and
# cached outside the repo (scripts/kube-tools.sh: minutes cold, milliseconds warm). Not fatal here:
# without them the kube tests skip, or fail under CI=true.
if [ "$MODE" = all ] || [ "$MODE" = integration ]; then
  kube_args=()
  [ "${BATCHAIN_NO_INSTALL:-0}" = 1 ] && kube_args=(--check)
  if kube_bin=$(bash scripts/kube-tools.sh "${kube_args[@]}"); then
    export BATCHAIN_KUBE_BIN=${kube_bin##*$'\n'}
  else
    printf '[deps] kube-apiserver, etcd, kubectl not available (scripts/kube-tools.sh, see above)\n' >&2
  fi
fi

if [ "$MODE" = all ] || [ "$MODE" = static ]; then
  step build npm run --silent build
  step typecheck npx --no-install tsc --noEmit -p tsconfig.json
  step lint npm run --silent lint
  step cycles npm run --silent cycles
fi
if [ "$MODE" = all ] || [ "$MODE" = unit ]; then
  run_tests unit "$@"
fi
if [ "$MODE" = all ] || [ "$MODE" = integration ]; then
  run_tests integration "$@"
fi

# Cancelled tests (timeouts) count as failures.
failed=$((total_fail + total_cancelled))
printf '\n==> summary (%s)\n' "$MODE"
printf '  %s\n' "${step_report[@]}"
if [ "${#failed_checks[@]}" -gt 0 ]; then
  printf 'failed checks: %s\n' "${failed_checks[*]}"
fi
echo "# tests $total_tests"
echo "# pass $total_pass"
echo "# fail $failed"
echo "# skipped $total_skipped"
echo "# todo $total_todo"
echo "(static checks count as one test each; fail includes $total_cancelled cancelled or timed out)"
echo "$total_pass passed, $failed failed"
[ "$failed" -eq 0 ]
