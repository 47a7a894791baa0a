#!/usr/bin/env bash
# The main job, end to end, on this machine: services up, a simulated HubSpot portal,
# `hubsync connect`, a full sync by two workers and a committer, some changes in the
# portal, an incremental sync, then a report per table and how to query the views.
#
# Everything runs against its own database (hubsync_demo) and queue prefix, so the
# demo never touches other data. Knobs: DEMO_RECORDS (per table, default 1000),
# DEMO_SEED (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${DEMO_RECORDS:-1000}
SEED=${DEMO_SEED:-1}
DEMO_DIR=${CARGO_TARGET_DIR:-target}/demo
mkdir -p "$DEMO_DIR"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "services"
scripts/services.sh

say "build"
cargo build --quiet -p hubsync-cli -p hubspot-sim
BIN=${CARGO_TARGET_DIR:-target}/debug

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

say "simulated HubSpot portal (seed $SEED, $RECORDS records per table, HubSpot's rate limits)"
"$BIN/hubspot-sim" --addr 127.0.0.1:0 --seed "$SEED" --records "$RECORDS" \
  >"$DEMO_DIR/sim.jsonl" 2>"$DEMO_DIR/sim.log" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$DEMO_DIR/sim.jsonl" ] && break; sleep 0.1; done
LINE=$(head -n 1 "$DEMO_DIR/sim.jsonl")
[ -n "$LINE" ] || { echo "the simulator did not start; see $DEMO_DIR/sim.log" >&2; exit 1; }
field() { printf '%s' "$LINE" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
SIM=$(field base_url)
HUB=$(field hub_id)
echo "portal $HUB at $SIM"

# A fresh database and key per demo, so it can run again and again.
PGPASSWORD=hubsync psql -h 127.0.0.1 -U hubsync -d hubsync -qtAX \
  -c 'DROP DATABASE IF EXISTS hubsync_demo WITH (FORCE)' -c 'CREATE DATABASE hubsync_demo' >/dev/null
export HUBSYNC__DATABASE__URL=postgres://hubsync:hubsync@127.0.0.1:5432/hubsync_demo
export HUBSYNC__AMQP__URL=amqp://guest:guest@127.0.0.1:5672/%2f
export HUBSYNC__AMQP__PREFIX=hubsync-demo
export HUBSYNC__HUBSPOT__BASE_URL=$SIM
export HUBSYNC__OAUTH__AUTHORIZE_URL=$SIM/oauth/authorize
export HUBSYNC__OAUTH__CLIENT_ID=$(field client_id)
export HUBSYNC__OAUTH__CLIENT_SECRET=$(field client_secret)
export HUBSYNC__OAUTH__REDIRECT_URI=$(field redirect_uri)
export HUBSYNC__SECURITY__ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
# The commands in the foreground print their own report; their logs would only
# repeat it. The roles log at info level into their files.
export HUBSYNC__LOG__FILTER=${HUBSYNC__LOG__FILTER:-warn}

say "hubsync migrate"
"$BIN/hubsync" migrate

say "hubsync connect --refresh-token …"
"$BIN/hubsync" connect --refresh-token "$(field refresh_token)"

say "two workers and a committer"
# HubSpot's budgets (110 requests per 10 s, 5 searches per second) are per portal and
# each process paces itself, so two workers take half each.
for i in 1 2; do
  HUBSYNC__LOG__FILTER=info,sqlx=warn,lapin=warn \
  HUBSYNC__HUBSPOT__RATE__STANDARD_MAX=50 HUBSYNC__HUBSPOT__RATE__SEARCH_MAX=2 \
    "$BIN/hubsync" worker --concurrency 4 2>"$DEMO_DIR/worker-$i.log" &
  PIDS+=($!)
done
HUBSYNC__LOG__FILTER=info,sqlx=warn,lapin=warn "$BIN/hubsync" committer 2>"$DEMO_DIR/committer.log" &
PIDS+=($!)
echo "logs in $DEMO_DIR/"

counters() { curl -s "$SIM/_sim/counters"; }
curl -s -X POST "$SIM/_sim/counters/reset" >/dev/null

say "full sync"
START=$(date +%s.%N)
"$BIN/hubsync" sync --connection "$HUB" --full --wait
FULL_SECS=$(python3 -c "import time; print(f'{time.time() - $START:.1f}')")
counters >"$DEMO_DIR/counters-full.json"

say "changes in HubSpot: 20 deals updated (one also re-associated), 10 contacts created"
curl -s "$SIM/_sim/portals/$HUB/objects/deals" >"$DEMO_DIR/deals.json"
curl -s "$SIM/_sim/portals/$HUB/objects/companies" >"$DEMO_DIR/companies.json"
python3 - "$DEMO_DIR" <<'PY' >"$DEMO_DIR/changes.sh"
import json, sys
d = sys.argv[1]
deals = json.load(open(f"{d}/deals.json"))
companies = json.load(open(f"{d}/companies.json"))
def ids(payload):
    rows = payload["results"] if isinstance(payload, dict) else payload
    return [str(r["id"]) for r in rows if not r.get("archived")]
deal_ids, company_ids = ids(deals), ids(companies)
for n, deal in enumerate(deal_ids[:20]):
    body = json.dumps({"properties": {"amount": str(1000 + n), "dealstage": "contractsent"}})
    print(f"patch deals/{deal} '{body}'")
print(f"associate {deal_ids[0]} {company_ids[-1]}")
PY
patch() { curl -sf -X PATCH "$SIM/_sim/portals/$HUB/objects/$1" -H 'content-type: application/json' -d "$2" >/dev/null; }
associate() {
  curl -sf -X PUT "$SIM/_sim/portals/$HUB/associations" -H 'content-type: application/json' \
    -d "{\"fromType\":\"deals\",\"fromId\":$1,\"toType\":\"companies\",\"toId\":$2}" >/dev/null
}
# shellcheck disable=SC1090
source "$DEMO_DIR/changes.sh"
for n in $(seq 1 10); do
  curl -sf -X POST "$SIM/_sim/portals/$HUB/objects/contacts" -H 'content-type: application/json' \
    -d "{\"properties\":{\"email\":\"demo$n@example.com\",\"firstname\":\"Demo\",\"lastname\":\"Contact $n\"}}" >/dev/null
done
curl -s -X POST "$SIM/_sim/counters/reset" >/dev/null

say "incremental sync"
START=$(date +%s.%N)
"$BIN/hubsync" sync --connection "$HUB" --wait
INCR_SECS=$(python3 -c "import time; print(f'{time.time() - $START:.1f}')")
counters >"$DEMO_DIR/counters-incremental.json"

say "report"
"$BIN/hubsync" status --connection "$HUB" --runs 0
psql_demo() { PGPASSWORD=hubsync psql -h 127.0.0.1 -U hubsync -d hubsync_demo -qtAX -F $'\t' -c "$1"; }
psql_demo "SELECT t.table_name,
                  (SELECT count(*) FROM hubsync.records r WHERE r.connection_id = t.connection_id AND r.table_name = t.table_name),
                  (SELECT count(*) FROM hubsync.fields f WHERE f.connection_id = t.connection_id AND f.table_name = t.table_name AND f.archived_at IS NULL),
                  (SELECT count(*) FROM hubsync.associations a WHERE a.connection_id = t.connection_id AND a.from_table = t.table_name)
           FROM hubsync.tables t WHERE t.available ORDER BY 1" >"$DEMO_DIR/tables.tsv"
psql_demo "SELECT table_name, mode, records, extract(epoch FROM finished_at - created_at)
           FROM hubsync.runs WHERE status = 'succeeded' ORDER BY created_at" >"$DEMO_DIR/runs.tsv"
python3 - "$DEMO_DIR" "$FULL_SECS" "$INCR_SECS" <<'PY'
import csv, json, sys
d, full_secs, incr_secs = sys.argv[1], sys.argv[2], sys.argv[3]
counters = {kind: json.load(open(f"{d}/counters-{kind}.json")) for kind in ("full", "incremental")}
runs = {(row[0], row[1]): (int(row[2]), float(row[3]))
        for row in csv.reader(open(f"{d}/runs.tsv"), delimiter="\t")}
# HubSpot's object type of each table, as the simulator counts them.
object_type = {"goals": "goal_targets"}
def calls(kind, table):
    by_family = counters[kind].get("calls_by_type", {}).get(object_type.get(table, table), {})
    return sum(by_family.values())
header = ("TABLE", "RECORDS", "FIELDS", "ASSOCIATIONS",
          "FULL: READ", "CALLS", "SECONDS", "INCREMENTAL: READ", "CALLS", "SECONDS")
rows = []
for table, records, fields, associations in csv.reader(open(f"{d}/tables.tsv"), delimiter="\t"):
    full = runs.get((table, "full"), (0, 0.0))
    incremental = runs.get((table, "incremental"), (0, 0.0))
    rows.append((table, records, fields, associations,
                 str(full[0]), str(calls("full", table)), f"{full[1]:.1f}",
                 str(incremental[0]), str(calls("incremental", table)), f"{incremental[1]:.1f}"))
widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
for row in [header] + rows:
    print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
print()
for kind, secs in (("full", full_secs), ("incremental", incr_secs)):
    c = counters[kind]
    requests = {family: sum(by_status.values()) for family, by_status in c.get("requests", {}).items()}
    limited = sum(c.get("rate_limited", {}).values())
    print(f"{kind} sync: {secs} s wall, {sum(requests.values())} HubSpot API calls "
          f"({limited} answered 429): " + ", ".join(f"{k} {v}" for k, v in sorted(requests.items())))
PY

cat <<EOF

Query the views (schema hubspot_$HUB):
  psql postgres://hubsync:hubsync@127.0.0.1:5432/hubsync_demo
  SELECT id, dealname, amount, deal_currency_code, dealstage FROM hubspot_$HUB.deals ORDER BY amount DESC NULLS LAST LIMIT 5;
  SELECT DISTINCT d.dealname, c.name FROM hubspot_$HUB.deals d
    JOIN hubspot_$HUB.associations a ON a.from_table = 'deals' AND a.from_id = d.id AND a.to_table = 'companies'
    JOIN hubspot_$HUB.companies c ON c.id = a.to_id LIMIT 5;
  SELECT id, email, firstname, lastname FROM hubspot_$HUB.contacts WHERE email LIKE 'demo%';
  SELECT d.dealname, o.name AS owner FROM hubspot_$HUB.deals d
    LEFT JOIN hubspot_$HUB.owners o ON o.id = d.hubspot_owner_id LIMIT 5;
EOF
