#!/bin/bash
# Applies the users, roles and grants of sql/roles/ (mounted at $ROLES_DIR) to the ClickHouse
# server while its image initialises it (/docker-entrypoint-initdb.d), as sql/README.md does
# with envsubst: only ${CROSSINGS_WRITER_PASSWORD} and ${CROSSINGS_ANALYST_PASSWORD} are
# replaced, with the passwords quoted for a SQL string. The statements use IF NOT EXISTS, so
# a second run changes nothing.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true   # '&' in a password stays '&'

ROLES_DIR=${ROLES_DIR:-/crossings/sql/roles}
: "${CROSSINGS_WRITER_PASSWORD:?is not set (deploy/compose/.env)}"
: "${CROSSINGS_ANALYST_PASSWORD:?is not set (deploy/compose/.env)}"

sql_quoted() {
  local value=${1//\\/\\\\}
  printf '%s' "${value//\'/\\\'}"
}

writer=$(sql_quoted "$CROSSINGS_WRITER_PASSWORD")
analyst=$(sql_quoted "$CROSSINGS_ANALYST_PASSWORD")
shopt -s nullglob
files=("$ROLES_DIR"/*.sql)
if [ ${#files[@]} -eq 0 ]; then
  echo "roles.sh: no .sql files in $ROLES_DIR" >&2
  exit 1
fi
for file in "${files[@]}"; do
  sql=$(<"$file")
  sql=${sql//'${CROSSINGS_WRITER_PASSWORD}'/$writer}
  sql=${sql//'${CROSSINGS_ANALYST_PASSWORD}'/$analyst}
  echo "roles.sh: applying $(basename "$file")"
  clickhouse-client --host 127.0.0.1 --user "${CLICKHOUSE_USER:-default}" \
    --password "${CLICKHOUSE_PASSWORD:-}" --multiquery <<<"$sql"
done
