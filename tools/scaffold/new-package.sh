#!/usr/bin/env bash
# Lays out a new workspace package the way every Strata package looks:
#   tools/scaffold/new-package.sh packages/<name> "<description>" [dep ...]
set -euo pipefail
dir="$1"; desc="$2"; shift 2
name="$(basename "$dir")"
case "$dir" in
  packages/*) pkg="@strata/$name"; private=false ;;
  apps/*) pkg="@strata/$name"; private=false ;;
  *) pkg="@strata/$name"; private=true ;;
esac
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$root/$dir/src"
deps=""; refs=""
for d in "$@"; do
  deps="$deps${deps:+,}
    \"@strata/$d\": \"workspace:*\""
  refs="$refs${refs:+, }{ \"path\": \"../../packages/$d\" }"
done
cat >"$root/$dir/package.json" <<JSON
{
  "name": "$pkg",
  "version": "0.0.0",
  "description": "$desc",
  "license": "Apache-2.0",
  "private": $private,
  "type": "module",
  "sideEffects": false,
  "engines": { "node": ">=24.15.0" },
  "exports": {
    ".": "./src/mod.ts"
  },
  "files": ["dist", "!dist/**/*.test.*"],
  "publishConfig": {
    "exports": {
      ".": { "types": "./dist/mod.d.ts", "default": "./dist/mod.js" }
    }
  },
  "scripts": {
    "build": "tsc -b",
    "typecheck": "tsc -b",
    "test": "vitest run"
  },
  "dependencies": {$deps
  }
}
JSON
cat >"$root/$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "include": ["src"],
  "references": [$refs]
}
JSON
cat >"$root/$dir/vitest.config.ts" <<TS
import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "$pkg", include: ["src/**/*.test.ts"] },
});
TS
