#!/usr/bin/env bash
# SIGHUP to `cloudhost watch --json` re-reads the config file and reloads:
# the stub's api_token moves from token-a to token-b ("reloaded"), token-a is
# then revoked and the periodic listing keeps working (it would fail with the
# old token); a config with a JSON error is refused ("reload_failed" naming
# file, line and column) and the running one keeps serving.
#   usage: watch_reload_cli_test.sh CLOUDHOST SWAPCLOUD_DIR
set -euo pipefail
cli=$1 builds=$2
work=$(mktemp -d)
watcher=
cleanup() {
    [ -n "$watcher" ] && kill "$watcher" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/drivers" "$work/state"
cp "$builds/stub_v1.so" "$work/drivers/stub.so"
printf 'token-a\ntoken-b\n' >"$work/state/valid_tokens"
write_config() { # $1: token
    cat >"$work/config.new" <<JSON
{"driver": "stub", "driver_dirs": ["$work/drivers"],
 "driver_parameters": {"state_dir": "$work/state", "api_token": "$1"},
 "timeouts": {"sync_interval": "100ms"}}
JSON
    mv "$work/config.new" "$work/config.json"
}
wait_for() { # $1: a grep pattern in the event stream; bounded
    for _ in $(seq 100); do grep -q "$1" "$work/events" 2>/dev/null && return 0; sleep 0.1; done
    echo "no event matching $1" >&2
    cat "$work/events" >&2
    return 1
}

write_config token-a
"$cli" --config "$work/config.json" watch --json --duration 8s >"$work/events" &
watcher=$!
wait_for '"event":"started"'

write_config token-b
kill -HUP "$watcher"
wait_for '"event":"reloaded"'
printf 'token-b\n' >"$work/state/valid_tokens.new"
mv "$work/state/valid_tokens.new" "$work/state/valid_tokens"

printf '{"driver": "stub",\n "driver_parameters": {\n' >"$work/config.json"
kill -HUP "$watcher"
wait_for '"event":"reload_failed"'
wait "$watcher"
watcher=
cat "$work/events"
python3 - "$work/events" "$work/config.json" <<'PY'
import json, re, sys
events = [json.loads(line) for line in open(sys.argv[1])]
names = [e["event"] for e in events]
assert names.count("reloaded") == 1, names
failed = [e for e in events if e["event"] == "reload_failed"]
assert len(failed) == 1 and re.match(re.escape(sys.argv[2]) + r":\d+:\d+: ", failed[0]["reason"]), failed
assert "sync_failed" not in names, names  # the revoked token was never used again
assert names[-1] == "stopped", names
PY
