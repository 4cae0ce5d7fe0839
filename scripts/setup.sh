#!/usr/bin/env bash
# Gets a fresh machine ready for `npm run demo` and `npm test`: an etcd server binary, then `npm ci`.
# Uses an `etcd` already on PATH (or $ETCD_BIN); else, as root on Debian/Ubuntu, installs Debian's
# etcd-server and etcd-client; else prints how to get one and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

have_etcd() {
  if [ -n "${ETCD_ENDPOINTS:-}" ]; then return 0; fi
  if [ -n "${ETCD_BIN:-}" ] && [ -x "${ETCD_BIN}" ]; then return 0; fi
  command -v etcd >/dev/null 2>&1
}

if ! have_etcd; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: no etcd on PATH; installing Debian's etcd-server and etcd-client" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null
    # The package may start a system etcd on :2379; the harness never uses it (it picks free ports).
  else
    cat >&2 <<'MSG'
setup: no etcd server found. Get one of:
  - Debian/Ubuntu (as root):  apt-get install -y etcd-server etcd-client
  - macOS:                    brew install etcd
  - any etcd binary:          export ETCD_BIN=/path/to/etcd
  - an existing cluster:      export ETCD_ENDPOINTS=127.0.0.1:2379
  - Docker:                   start a Docker engine (the harness then runs etcd in a container)
then run this command again.
MSG
    exit 1
  fi
fi

# Tools some tests use: Go's etcd client (interop tests build a small Go program against it) and
# Prometheus's promtool (checks the CLI's /metrics text). Installed as root on Debian when missing;
# elsewhere the tests that need them say why they did not run.
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/go.etcd.io/etcd ] || missing+=(golang-etcd-server-dev)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing test tools: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
