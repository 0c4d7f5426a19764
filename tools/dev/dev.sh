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
  # A real session on the default root, in its own namespace so it leaves
  # the user's data alone: a lease holds an ingested blob through garbage
  # collection; deleting the lease lets the collector reclaim it.
  local file lease="demo-$$" dgst
  local strata=("$strata_root/bin/strata" --namespace strata-demo)
  file="$(mktemp)"
  trap 'rm -f "$file"' RETURN
  printf 'hello from strata, %s\n' "$(date -u +%FT%TZ)" >"$file"
  step "strata info"
  "${strata[@]}" info
  step "strata leases create --id $lease"
  "${strata[@]}" leases create --id "$lease" --expires 1h
  step "strata content ingest --lease $lease FILE"
  dgst="$("${strata[@]}" content ingest --lease "$lease" "$file")"
  echo "$dgst"
  step "strata content ls"
  "${strata[@]}" content ls
  step "strata content get $dgst (compared with the file)"
  "${strata[@]}" content get "$dgst" | cmp - "$file" && echo "identical"
  step "strata gc (the lease holds the blob)"
  "${strata[@]}" gc
  "${strata[@]}" content ls --quiet
  step "strata leases rm --sync $lease (collects what only the lease held)"
  "${strata[@]}" leases rm --sync "$lease"
  "${strata[@]}" content ls

  # A directory becomes a ref, the ref an OCI image, the image refs again.
  local tree layout ref imported
  tree="$(mktemp -d)"
  layout="$(mktemp -d)"
  trap 'rm -rf "$file" "$tree" "$layout"' RETURN
  mkdir -p "$tree/etc"
  printf 'built by strata\n' >"$tree/etc/motd"
  step "strata commit DIR (a directory into a ref)"
  ref="$("${strata[@]}" commit --description demo "$tree" | tail -n 1)"
  echo "$ref"
  step "strata image export $ref --to oci:LAYOUT:demo --compression zstd"
  "${strata[@]}" image export "$ref" --to "oci:$layout:demo" --compression zstd
  step "strata image import oci:LAYOUT:demo"
  imported="$("${strata[@]}" image import "oci:$layout:demo" | tail -n 1)"
  if [ "$imported" = "$ref" ]; then
    echo "$imported (the same ref: its layers, by chain ID, were already here)"
  else
    echo "$imported"
  fi
  step "strata ref ls; strata du"
  "${strata[@]}" ref ls
  "${strata[@]}" du
  step "strata ref rm, then prune what is left of the demo"
  "${strata[@]}" ref rm "$ref"
  [ "$imported" = "$ref" ] || "${strata[@]}" ref rm "$imported"
  "${strata[@]}" prune --all >/dev/null
  "${strata[@]}" ref ls
}

case "${1:-}" in
  test) shift; cmd_test "$@" ;;
  demo) shift; cmd_demo "$@" ;;
  bench) shift; node tools/bench/src/main.ts "$@" ;;
  bootstrap) ;;
  *) echo "usage: tools/dev/dev.sh test|demo|bench|bootstrap" >&2; exit 2 ;;
esac
