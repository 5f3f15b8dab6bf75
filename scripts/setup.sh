#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine. Idempotent: a machine that
# already has everything is left alone (no apt-get at all).
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
need=()
[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_basebackup" ] || need+=(postgresql-15)
command -v psql >/dev/null || need+=(postgresql-client-15)
command -v runuser >/dev/null || need+=(util-linux)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need[*]}; run as root, or install them: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The package starts a cluster of its own; the tests start throwaway clusters instead.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
  fi
fi
id postgres >/dev/null 2>&1 || { echo "setup: no postgres user after install" >&2; exit 1; }
