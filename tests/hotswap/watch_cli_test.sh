#!/usr/bin/env bash
# `cloudhost watch --json` shows an upgrade happen: v1 running, v2 renamed
# into the driver directory, then "swapped" and "unloaded" events, one JSON
# object per line.   usage: watch_cli_test.sh CLOUDHOST SWAPCLOUD_DIR
set -euo pipefail
cli=$1 builds=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/drivers"
cp "$builds/swapcloud_v1.so" "$work/drivers/"
cat >"$work/config.json" <<JSON
{"driver": "swapcloud", "driver_dirs": ["$work/drivers"],
 "driver_parameters": {"state_dir": "$work/state"}, "timeouts": {"sync_interval": "200ms"}}
JSON
"$cli" --config "$work/config.json" watch --json --duration 6s >"$work/events" &
watcher=$!
for _ in $(seq 50); do grep -q '"event":"started"' "$work/events" 2>/dev/null && break; sleep 0.1; done
cp "$builds/swapcloud_v2.so" "$work/drivers/.incoming" # complete first, then rename in
mv "$work/drivers/.incoming" "$work/drivers/swapcloud_v2.so"
wait "$watcher"
cat "$work/events"
python3 - "$work/events" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
names = [e["event"] for e in events]
swapped = [e for e in events if e["event"] == "swapped"]
assert swapped and swapped[0]["from_version"] == "1.0.0" and swapped[0]["version"] == "2.0.0", names
assert any(e["event"] == "unloaded" and e["version"] == "1.0.0" for e in events), names
assert names[-1] == "stopped" and events[-1]["version"] == "2.0.0", names
PY
