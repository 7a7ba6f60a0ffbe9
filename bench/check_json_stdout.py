#!/usr/bin/env python3
"""cloudhost-bench --json prints only JSON objects on stdout, one per line;
log lines (a hot swap logs each step) go to stderr. Issue 11: they were
interleaved with the results on stdout."""
import json
import subprocess
import sys

bench = sys.argv[1]
run = subprocess.run([bench, "--json", "hot_swap_latency"], capture_output=True, text=True,
                     timeout=300)
if run.returncode != 0:
    sys.exit(f"cloudhost-bench failed ({run.returncode}): {run.stderr}")
lines = run.stdout.splitlines()
if not lines:
    sys.exit("no result on stdout")
for number, line in enumerate(lines, 1):
    try:
        result = json.loads(line)
    except ValueError:
        sys.exit(f"stdout line {number} is not JSON: {line!r}")
    if not isinstance(result, dict) or "name" not in result:
        sys.exit(f"stdout line {number} is not a result object: {line!r}")
if "hot swap: swapped" not in run.stderr:
    sys.exit("the hot swap's log lines are not on stderr: " + run.stderr[:500])
print(f"{len(lines)} JSON result line(s) on stdout, log lines on stderr")
