#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine. Idempotent: a machine that
# already has everything is left alone (no apt-get at all).
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
TEST_IMAGE=medic-test/busybox:latest
# Debian bookworm with systemd, built with debootstrap: systemd runs in it (the unit tests) and it is the base of medic's image.
DEBIAN_IMAGE=medic-test/bookworm:latest
need=()
[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_basebackup" ] || need+=(postgresql-15)
command -v psql >/dev/null || need+=(postgresql-client-15)
command -v runuser >/dev/null || need+=(util-linux)
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need+=(busybox-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v promtool >/dev/null || need+=(prometheus)
# The web console's browser tests drive Debian's chromium with playwright-core (no browser download).
[ -x /usr/bin/chromium ] || need+=(chromium)

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
  if [[ " ${need[*]} " == *" postgresql-15 "* ]] && command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
  fi
fi
id postgres >/dev/null 2>&1 || { echo "setup: no postgres user after install" >&2; exit 1; }

# A Docker engine for the container tests: start one unless the socket already answers.
docker_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if ! docker_up; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: no Docker engine answers on /var/run/docker.sock; start dockerd (as root)" >&2
    exit 1
  fi
  echo "setup: starting dockerd"
  # A session of its own: stopping whatever ran this script (a CI job, a test run) must not take the engine with it.
  setsid -f dockerd >>/var/log/medic-test-dockerd.log 2>&1 </dev/null
  for _ in $(seq 1 120); do docker_up && break; sleep 0.5; done
  docker_up || { echo "setup: dockerd did not come up; see /var/log/medic-test-dockerd.log" >&2; exit 1; }
fi

# No registry is reachable: the test image is busybox imported from the host's static binary.
if ! docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/www" "$root/tmp"
  cp /bin/busybox "$root/bin/"
  for applet in sh sleep httpd echo cat head tr test rm touch dd ls kill; do ln -s busybox "$root/bin/$applet"; done
  tar -C "$root" -c . | docker import - "$TEST_IMAGE" >/dev/null
  rm -rf "$root"
  echo "setup: built $TEST_IMAGE"
fi

# No registry is reachable: Debian comes from debootstrap (about a minute from the mirror), once.
if ! docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
  root=$(mktemp -d)
  echo "setup: building $DEBIAN_IMAGE with debootstrap"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libpam-systemd,polkitd,procps,ca-certificates bookworm "$root" >/dev/null
  tar -C "$root" -c . | docker import - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$root"
  echo "setup: built $DEBIAN_IMAGE"
fi
