#!/usr/bin/env bash
# Makes this checkout runnable: Node 24 (from the npm registry when the Node on
# PATH is older), pnpm (pinned by package.json's packageManager), and the
# workspace's dependencies from the lockfile. Idempotent and quiet when there is
# nothing to do. Source it to get PATH set, or run it for the side effects.
#
# Only the npm registry is contacted: Node comes from the `node-<os>-<arch>`
# package that the npm package `node` itself installs, pnpm from `pnpm`.
set -euo pipefail

strata_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runtime="$strata_root/.runtime"
node_version="$(tr -d ' \n' <"$strata_root/.node-version")"
node_major="${node_version%%.*}"
pnpm_version="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$strata_root/package.json")"

log() { printf 'bootstrap: %s\n' "$*" >&2; }

# Runs a command quietly; on failure shows what it printed, then fails.
run_logged() {
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    log "failed: $*"
    return 1
  fi
}

node_ok() {
  local v
  v="$("$1" -p 'process.versions.node' 2>/dev/null)" || return 1
  [ "${v%%.*}" -ge "$node_major" ]
}

# An npm to fetch packages with: the system's, or the one a previous bootstrap left.
find_npm() {
  if command -v npm >/dev/null 2>&1; then command -v npm; return; fi
  log "npm is needed to fetch Node and pnpm from the npm registry; install it (apt-get install npm)"
  exit 1
}

ensure_node() {
  # Resolve links: the Node on PATH may be our own .runtime/bin/node.
  if command -v node >/dev/null 2>&1 && node_ok "$(command -v node)"; then
    node_bin="$(readlink -f "$(command -v node)")"
    return
  fi
  node_bin="$runtime/node-$node_version/bin/node"
  if [ -x "$node_bin" ] && node_ok "$node_bin"; then return; fi
  local arch os tmp npm_bin
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) log "no Node $node_major package for $(uname -m)"; exit 1 ;;
  esac
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  npm_bin="$(find_npm)"
  tmp="$(mktemp -d)"
  log "installing Node $node_version (node-$os-$arch from the npm registry) into .runtime/"
  (cd "$tmp" && run_logged "$npm_bin" pack "node-$os-$arch@$node_version")
  mkdir -p "$runtime/node-$node_version"
  tar -xzf "$tmp"/node-"$os"-"$arch"-*.tgz -C "$runtime/node-$node_version" --strip-components=1 package/bin package/LICENSE
  rm -rf "$tmp"
  node_ok "$node_bin" || { log "the installed Node does not run"; exit 1; }
}

ensure_pnpm() {
  pnpm_bin="$runtime/pnpm-$pnpm_version/node_modules/.bin/pnpm"
  if [ -x "$pnpm_bin" ] && [ "$("$pnpm_bin" --version 2>/dev/null)" = "$pnpm_version" ]; then return; fi
  log "installing pnpm $pnpm_version into .runtime/"
  rm -rf "$runtime/pnpm-$pnpm_version"
  mkdir -p "$runtime/pnpm-$pnpm_version"
  PATH="$(dirname "$node_bin"):$PATH" run_logged "$(find_npm)" install --no-audit --no-fund \
    --prefix "$runtime/pnpm-$pnpm_version" "pnpm@$pnpm_version"
  [ "$("$pnpm_bin" --version 2>/dev/null)" = "$pnpm_version" ] || { log "pnpm did not install"; exit 1; }
}

link_bins() {
  mkdir -p "$runtime/bin"
  ln -sfn "$node_bin" "$runtime/bin/node"
  ln -sfn "$pnpm_bin" "$runtime/bin/pnpm"
}

ensure_deps() {
  # Reinstall when the lockfile or a manifest changed since the last install.
  local stamp="$runtime/deps.stamp" sum
  sum="$(cat "$strata_root/pnpm-lock.yaml" "$strata_root"/package.json "$strata_root"/{packages,apps,tools}/*/package.json "$strata_root"/test-e2e/package.json 2>/dev/null | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -d "$strata_root/node_modules" ]; then return; fi
  log "installing dependencies from the lockfile"
  (cd "$strata_root" && PATH="$runtime/bin:$PATH" run_logged pnpm install --frozen-lockfile)
  echo "$sum" >"$stamp"
}

ensure_node
ensure_pnpm
link_bins
ensure_deps
export PATH="$runtime/bin:$strata_root/node_modules/.bin:$PATH"
