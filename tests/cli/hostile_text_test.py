#!/usr/bin/env python3
"""Text a driver hands back never reaches the terminal raw, and --json stays
valid UTF-8 JSON (issue 10 item 3), for every command that prints driver text:
drivers, list, create, tag, destroy, exec, cloudtest; text and --json; the
driver in process and isolated in a helper. The driver (textcloud_driver.cpp)
puts ESC sequences, BEL, CR/LF, C1 controls and invalid UTF-8 in its
description, instance string, tags, address, remote user, quota group and
every error message.

Usage: hostile_text_test.py CLI DRIVER_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

CLI, DRIVER_DIR = sys.argv[1], sys.argv[2]
failures = []


def problems(name, data):
    """What is wrong with bytes `data` written to a terminal."""
    found = []
    try:
        text = data.decode("utf-8")  # strict: invalid UTF-8 raises
    except UnicodeDecodeError as e:
        return ["invalid UTF-8 at byte %d" % e.start]
    for ch in text:
        code = ord(ch)
        if (code < 0x20 and ch not in "\n\t") or code == 0x7f or 0x80 <= code <= 0x9f:
            found.append("control character U+%04X" % code)
            break
    return found


def run(config, *args, expect_json=False):
    result = subprocess.run([CLI, "--config", config, *args], stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=120)
    label = " ".join(args) + " [" + os.path.basename(config) + "]"
    for stream, data in (("stdout", result.stdout), ("stderr", result.stderr)):
        for p in problems(label, data):
            failures.append("%s: %s: %s: %r" % (label, stream, p, data[:300]))
    if expect_json:
        try:
            # strict=True (the default) refuses raw control characters in strings.
            for line in result.stdout.decode("utf-8").splitlines():
                json.loads(line)
        except (ValueError, UnicodeDecodeError) as e:
            failures.append("%s: stdout is not valid JSON (%s): %r" % (label, e, result.stdout[:300]))
    return result


def expect(condition, what):
    if not condition:
        failures.append(what)


with tempfile.TemporaryDirectory() as work:
    for isolation in ("none", "process"):
        config = os.path.join(work, "textcloud-%s.json" % isolation)
        with open(config, "w") as f:
            json.dump({"driver": "textcloud", "driver_dirs": [DRIVER_DIR], "isolation": isolation,
                       "instance_types": {"small": {"provider_type": "t1", "vcpus": 1,
                                                    "ram": "1GiB", "price": 0.01}},
                       "timeouts": {"boot": "2s", "probe_interval": "100ms"}}, f)
        drivers = run(config, "drivers")
        expect(b"textcloud" in drivers.stdout, "drivers lists textcloud: %r" % drivers.stdout)
        run(config, "drivers", "--json", expect_json=True)
        listed = run(config, "list")
        expect(b"i-hostile" in listed.stdout, "list shows i-hostile: %r" % listed.stdout)
        listed_json = run(config, "list", "--json", expect_json=True)
        if listed_json.returncode == 0:
            instances = json.loads(listed_json.stdout)["instances"]
            expect([i["id"] for i in instances] == ["i-hostile"],
                   "list --json shows i-hostile: %r" % listed_json.stdout)
        run(config, "create", "--type", "small")
        run(config, "create", "--type", "small", "--json", expect_json=True)
        # `tag` sends the instance's current tags with the new ones: the host
        # refuses the driver's hostile tag key before calling SetTags.
        tagged = run(config, "tag", "i-hostile", "a=b")
        expect(tagged.returncode != 0 and b"SetTags: tag key" in tagged.stderr,
               "tag: the driver's bad tag is reported: %r" % tagged.stderr)
        destroyed = run(config, "destroy", "i-hostile")
        expect(destroyed.returncode != 0 and b"destroy refused" in destroyed.stderr,
               "destroy: the driver's error is reported: %r" % destroyed.stderr)
        executed = run(config, "exec", "i-hostile", "--", "true")
        expect(executed.returncode != 0, "exec to a hostile address fails")
        run(config, "cloudtest", "--no-ssh")
        run(config, "cloudtest", "--no-ssh", "--json", expect_json=True)
        refused = os.path.join(work, "refused-%s.json" % isolation)
        with open(refused, "w") as f:
            json.dump({"driver": "textcloud", "driver_dirs": [DRIVER_DIR], "isolation": isolation,
                       "driver_parameters": {"refuse": True}}, f)
        refusal = run(refused, "list")
        expect(refusal.returncode != 0 and b"config refused" in refusal.stderr,
               "a refused config is reported: %r" % refusal.stderr)

for failure in failures:
    print("FAIL:", failure)
print("hostile text: %d problem(s)" % len(failures))
sys.exit(1 if failures else 0)
