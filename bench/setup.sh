#!/usr/bin/env bash
# What the benchmarks need beyond the test suite's setup (scripts/setup.sh): Monit, the peer
# medic is compared with. Idempotent: nothing happens when it is installed.
set -euo pipefail
if ! command -v monit >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench: monit is missing; run as root, or: apt-get install monit" >&2
    exit 1
  fi
  echo "bench: installing monit"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package's own Monit is not started (the benchmark runs its own, in the foreground).
  apt-get install -y -qq --no-install-recommends monit >/dev/null
fi
