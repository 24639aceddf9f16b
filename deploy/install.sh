#!/usr/bin/env bash
# Installs what `make cluster` and the cluster test need, from Debian's packages, when missing:
# PostgreSQL, Redis and HAProxy. Nothing is started here (bot/tools/cluster.py starts its own).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v haproxy >/dev/null 2>&1 && [ -x "$(command -v haproxy)" ] || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_=""
  [ "$(id -u)" -ne 0 ] && sudo_="sudo"
  $sudo_ apt-get update -qq >/dev/null
  $sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
fi
