#!/usr/bin/env bash
# The wheel on its own: build it, install it into a new virtualenv outside the checkout, and from there
# run the embedded demo (SQLite, in-process broker, simulator) and `batchrunner db upgrade` on Postgres.
# Run by .ci/run; needs Postgres at $BATCHRUNNER_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
server="${BATCHRUNNER_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432}"
work="$(mktemp -d /tmp/batchrunner-wheel.XXXXXX)"
database="batchrunner_wheel_$$"
cleanup() {
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$repo"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/batchrunner-*.whl
cp "$repo/examples/jobs.jsonl" "$repo/examples/assistants.yaml" "$work/"
cd "$work"  # nothing of the checkout on the path: the installed package alone
for variable in $(env | grep -o '^BATCHRUNNER_[A-Z_]*' || true); do unset "$variable"; done

echo "-- embedded demo from the installed wheel"
"$work/venv/bin/batchrunner" run jobs.jsonl --simulate

echo "-- db upgrade on Postgres from the installed wheel"
psql "$server/postgres" -qc "CREATE DATABASE $database"
BATCHRUNNER_DATABASE_URL="$server/$database" "$work/venv/bin/batchrunner" db upgrade
newest="$(ls "$work"/venv/lib/python3*/site-packages/batchrunner/db/migrations/versions/ | grep '\.py$' | sort | tail -1)"
at="$(psql "$server/$database" -tAc "SELECT version_num FROM alembic_version")"
echo "database at revision $at; the newest shipped is $newest"
test "$at" = "${newest%%_*}"
