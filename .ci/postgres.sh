#!/usr/bin/env bash
# Installs (when missing) and starts a local PostgreSQL for the tests that
# check the data layer on it; prints the URL to use as TEST_POSTGRES_URL.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi
version=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  pg_createcluster "$version" main >/dev/null 2>&1
fi
pg_ctlcluster "$version" main start >/dev/null 2>&1 || true
for _ in $(seq 1 30); do
  su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='wenzhou'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"create role wenzhou login password 'wenzhou'\"" >/dev/null
su postgres -c "psql -qtAc \"select 1 from pg_database where datname='wenzhou_test'\"" | grep -q 1 ||
  su postgres -c "createdb -O wenzhou wenzhou_test" >/dev/null
echo "postgresql+psycopg2://wenzhou:wenzhou@127.0.0.1:5432/wenzhou_test"
