#!/usr/bin/env bash
# bench/state.sh — measures change-only sending (push --state, issue 16)
# against "sfmc simulator" in its own process:
#   1. PROFILES demo profiles pushed without a state file (the baseline,
#      before and after step 2);
#   2. pushed with a new state file (the first run: every contact sent and
#      recorded);
#   3. pushed again with it (nothing changed: no contact request);
#   4. with every 20th record's first name changed (5%): requests equal the
#      changed records;
# printing each run's requests, skipped contacts, client CPU per record and
# peak RSS, and the state file's size per contact. Then a state file of
# STORE (default 1000000) records: its size, open time and peak RSS
# (bench/statefill).
#
# Usage: bench/state.sh [PROFILES (default 100000)] [STORE (default 1000000)]
# Needs GNU time (/usr/bin/time -v) and python3.
set -euo pipefail

profiles=${1:-100000}
store=${2:-1000000}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
need_gnu_time bench/state.sh

echo "building sfmc and statefill..."
(cd "$root" && go build -o "$tmp/sfmc" ./cmd/sfmc && go build -o "$tmp/statefill" ./bench/statefill)

"$tmp/sfmc" demo --profiles "$profiles" --write-mapping "$tmp/mapping.json" --write-profiles "$tmp/profiles.ndjson" >/dev/null
awk 'NR % 20 == 0 { sub(/"firstName":"[^"]*"/, "\"firstName\":\"Changed\"") } { print }' "$tmp/profiles.ndjson" >"$tmp/changed.ndjson"

start_simulator

# run NAME INPUT [ARGS...]: one push, measured.
run() {
	local name=$1 input=$2
	shift 2
	/usr/bin/time -v -o "$tmp/time.txt" "$tmp/sfmc" push --workers 16 --rate 1000000 --mapping "$tmp/mapping.json" \
		--input "$input" --failures "$tmp/failures.ndjson" --progress off --json "$@" >"$tmp/summary.json"
	python3 - "$name" "$tmp/summary.json" "$tmp/time.txt" <<'PY'
import json, re, sys
name, summary, timef = sys.argv[1:]
s = json.load(open(summary))
t = open(timef).read()
cpu = sum(float(re.search(k + r" \(seconds\): ([0-9.]+)", t).group(1)) for k in ("User time", "System time"))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"{name:<34} read {s['read']:>7}  requests {s['requests']:>7}  skipped {s['skipped']:>7}  "
      f"failed {s['failed']}  CPU {cpu:6.2f} s = {cpu / max(1, s['read']) * 1e6:6.1f} µs/record  "
      f"RSS {rss / 1024:5.1f} MiB")
PY
}

echo "pushing $profiles profiles to the simulator at $sim_addr (16 workers)..."
# The baseline before and after the first run with a state: their spread is
# the machine's noise, against which to read the state's cost.
run "no state" "$tmp/profiles.ndjson"
run "state, first run" "$tmp/profiles.ndjson" --state "$tmp/state.db"
run "no state, again" "$tmp/profiles.ndjson"
run "state, second run (no change)" "$tmp/profiles.ndjson" --state "$tmp/state.db"
run "state, 5% changed" "$tmp/changed.ndjson" --state "$tmp/state.db"
size=$(stat -c %s "$tmp/state.db")
awk -v s="$size" -v n="$profiles" 'BEGIN { printf "state file: %.1f MiB for %d contacts = %.0f bytes per contact\n", s / 1048576, n, s / n }'

echo "a state file of $store records..."
"$tmp/statefill" -file "$tmp/big.db" -fill "$store"
/usr/bin/time -f "peak RSS %M KiB" "$tmp/statefill" -file "$tmp/big.db" -keys "$store"
