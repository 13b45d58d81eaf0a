#!/usr/bin/env bash
# A PostgreSQL server for the tests on 127.0.0.1:5432 with a `plinth` role (password `plinth`,
# allowed to create databases: each test run makes its own and drops it). Installs Debian's
# `postgresql` package when the server is missing, creates and starts its cluster, listening on
# loopback only. Safe to run again. Tests read PLINTH_TEST_POSTGRES_URL (the default is printed).
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "== installing postgresql"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
pg_lsclusters -h | grep -q "^$version main " || as_root pg_createcluster "$version" main >/dev/null
printf "listen_addresses = '127.0.0.1'\nport = 5432\n" | as_root tee "/etc/postgresql/$version/main/conf.d/plinth-tests.conf" >/dev/null
pg_lsclusters -h | grep -q "^$version main .* online" || as_root pg_ctlcluster "$version" main start
for _ in $(seq 1 50); do
  as_postgres psql -qAtc 'select 1' >/dev/null 2>&1 && break
  sleep 0.2
done
as_postgres psql -qAt -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plinth') THEN
    CREATE ROLE plinth LOGIN PASSWORD 'plinth' CREATEDB;
  END IF;
END $$;
SQL
echo "PostgreSQL $version for the tests: postgres://plinth:plinth@127.0.0.1:5432/postgres"
