#!/usr/bin/env python3
"""Counts test cases from one or more meson testlog.json files.

A doctest executable reports "[doctest] test cases: T | P passed | F failed";
its cases are counted. Any other test counts as one case. An executable that
failed although its cases passed (a crash or sanitizer report at exit) adds
one failure; a missing log (the build failed) counts as one failure. Prints "N passed, N failed"; exits 1 if anything failed.
"""
import json
import re
import sys

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
GOOD = ("OK", "EXPECTEDFAIL")

passed = failed = 0
logs = []
args = iter(sys.argv[1:])
for arg in args:  # --extra P F: cases counted outside meson (the fuzz run)
    if arg == "--extra":
        passed += int(next(args))
        failed += int(next(args))
    else:
        logs.append(arg)
for path in logs:
    try:
        log = open(path)
    except OSError:
        failed += 1  # that run never got to its tests (build failure)
        continue
    with log:
        for line in log:
            entry = json.loads(line)
            ok = entry["result"] in GOOD
            if entry["result"] == "SKIP":
                continue
            m = None
            for m in SUMMARY.finditer(entry.get("stdout") or ""):
                pass
            if m:
                passed += int(m.group(2))
                failed += int(m.group(3))
                if not ok and int(m.group(3)) == 0:
                    failed += 1
            elif ok:
                passed += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
