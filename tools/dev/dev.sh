#!/usr/bin/env bash
# The developer entry point. Every subcommand bootstraps the checkout first
# (Node 24, pnpm, dependencies; see tools/bootstrap/bootstrap.sh).
#
#   tools/dev/dev.sh demo     a short real session of the strata CLI on the default root
#   tools/dev/dev.sh test     everything CI checks: layers, lint, types, all tests
#   tools/dev/dev.sh bench    the benchmarks (Strata and its peers side by side)
set -euo pipefail
strata_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../bootstrap/bootstrap.sh
source "$strata_root/tools/bootstrap/bootstrap.sh"
cd "$strata_root"

step() { printf '\n== %s\n' "$*" >&2; }

cmd_test() {
  local failed=0 results="$strata_root/.test-results/vitest.json"
  step "check-deps: imports follow the layers of DESIGN.md"
  node tools/check-deps/src/main.ts || failed=1
  step "lint and format (biome)"
  biome ci --colors=off . || failed=1
  step "typecheck (tsc -b)"
  tsc -b || failed=1
  step "tests (vitest)"
  mkdir -p "$(dirname "$results")"
  rm -f "$results"
  vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || failed=1
  node tools/dev/summary.ts "$results" || failed=1
  return "$failed"
}

cmd_demo() {
  local strata="$strata_root/bin/strata" file
  file="$(mktemp)"
  trap 'rm -f "$file"' RETURN
  printf 'hello from strata, %s\n' "$(date -u +%FT%TZ)" >"$file"
  step "strata info (the embedded root)"
  "$strata" info
  step "strata content ingest demo-\$\$ < a file"
  "$strata" content ingest "demo-$$" <"$file"
  step "strata content ls"
  "$strata" content ls
  step "strata content get <digest>"
  "$strata" content get "$("$strata" content ls --quiet | head -n1)" >/dev/null
  "$strata" content ls --quiet | while read -r dgst; do
    "$strata" content get "$dgst" | cmp -s - "$file" && echo "read back $dgst: identical"
  done
  step "strata gc"
  "$strata" gc
}

case "${1:-}" in
  test) shift; cmd_test "$@" ;;
  demo) shift; cmd_demo "$@" ;;
  bench) shift; node tools/bench/src/main.ts "$@" ;;
  bootstrap) ;;
  *) echo "usage: tools/dev/dev.sh test|demo|bench|bootstrap" >&2; exit 2 ;;
esac
