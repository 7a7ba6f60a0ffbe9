#!/usr/bin/env python3
"""cloudtest as CI runs it: interrupted by a real signal, and its JUnit XML.

  sigint    Ctrl-C (SIGINT) while the boot probe waits: the instance it
            created is destroyed before it exits 130, no server left
  sigterm   the same with SIGTERM (exit 143)
  junit     --conformance --junit FILE on a driver that breaks one rule:
            the file parses with xml.etree and has the shape JUnit readers
            expect (testsuites/testsuite/testcase, failure with message and
            type on exactly the broken step, counts that add up)

Usage: cloudtest_signal_junit_test.py CASE (CLOUDHOST_BUILD_ROOT names the build tree)
"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

BUILD = os.environ["CLOUDHOST_BUILD_ROOT"]
CLI = os.path.join(BUILD, "host", "cli", "cloudhost")
DEFECTS = os.path.join(BUILD, "tests", "cloudtest")
DEADLINE = 60  # seconds for any one wait here


class Failure(Exception):
    pass


def expect(condition, what, *context):
    if not condition:
        raise Failure(what + "".join("\n--- " + str(c) for c in context))


class Sandbox:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cloudhost-cloudtest-")
        self.state = os.path.join(self.dir, "lo")
        self.env = dict(os.environ, HOME=self.dir, XDG_STATE_HOME=os.path.join(self.dir, "xdg"))
        self.env.pop("CLOUDHOST_DRIVER_PATH", None)

    def config(self, driver="loopback", **fields):
        config = {"driver": driver, "driver_parameters": {"state_dir": self.state},
                  "instance_secret_path": "instance-secret",
                  "instance_types": {"localhost": {"vcpus": 1, "ram": "1GiB", "price": 0.1}},
                  "timeouts": {"boot": "60s", "probe_interval": "100ms",
                               "sync_interval": "100ms", "destroy": "30s"}}
        config.update(fields)
        path = os.path.join(self.dir, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        return path

    def instances_left(self):
        if not os.path.isdir(self.state):
            return []
        return [n for n in os.listdir(self.state)
                if not n.startswith(".") and os.path.isdir(os.path.join(self.state, n))]

    def servers_left(self):
        left = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if self.state.encode() in f.read():
                        left.append(pid)
            except OSError:
                pass
        return left

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def interrupted(sandbox, signum):
    # A boot probe that never succeeds keeps the run waiting after Create.
    config = sandbox.config(boot_probe_command="false")
    proc = subprocess.Popen([CLI, "--config", config, "cloudtest"], env=sandbox.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if not ready:
                continue
            line = proc.stdout.readline()
            expect(line, "cloudtest ended before the boot probe", "".join(seen))
            seen.append(line)
            if line.startswith("... boot probe"):
                break
        expect(seen and seen[-1].startswith("... boot probe"), "no boot probe step", "".join(seen))
        expect(len(sandbox.instances_left()) == 1, "the instance exists before the signal")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + out
    expect(proc.returncode == 128 + signum, "exit status 128+signal, got %d" % proc.returncode,
           out, err)
    expect("ok   destroy" in out, "the destroy step ran and passed", out)
    expect("cloudtest INTERRUPTED" in out, "the interruption is reported", out)
    expect(sandbox.instances_left() == [], "no instance left", sandbox.instances_left())
    expect(sandbox.servers_left() == [], "no server process left", sandbox.servers_left())


def junit(sandbox):
    config = sandbox.config(driver="defect_set_tags")
    path = os.path.join(sandbox.dir, "report.xml")
    result = subprocess.run([CLI, "--config", config, "--driver-dir", DEFECTS, "cloudtest",
                             "--conformance", "--settle", "1s", "--junit", path,
                             "--command", "printf 'out\\001put'"],
                            env=sandbox.env, capture_output=True, text=True, timeout=300)
    expect(result.returncode == 1, "the defective driver fails", result.stdout, result.stderr)
    # --command's output shows in the text report, escaped.
    expect("| out\\x01put" in result.stdout, "command output shown, escaped", result.stdout)
    root = ET.parse(path).getroot()
    expect(root.tag == "testsuites", "root is <testsuites>", root.tag)
    suites = root.findall("testsuite")
    expect(len(suites) == 1, "one <testsuite>")
    suite = suites[0]
    for attribute in ("name", "tests", "failures", "errors", "skipped", "time"):
        expect(attribute in suite.attrib, "testsuite has " + attribute, suite.attrib)
    cases = suite.findall("testcase")
    expect(int(suite.get("tests")) == len(cases), "tests counts the testcases")
    failed = []
    skipped = 0
    for case in cases:
        for attribute in ("name", "classname", "time"):
            expect(attribute in case.attrib, "testcase has " + attribute, case.attrib)
        float(case.get("time"))
        for child in case:
            expect(child.tag in ("failure", "error", "skipped", "system-out", "system-err"),
                   "known testcase child", child.tag)
        failure = case.find("failure")
        if failure is not None:
            expect(failure.get("message") and failure.get("type"), "failure has message, type")
            failed.append((case.get("name"), failure.get("message")))
        if case.find("skipped") is not None:
            skipped += 1
    expect(int(suite.get("failures")) == len(failed), "failures counts the failures")
    expect(int(suite.get("skipped")) == skipped, "skipped counts the skipped")
    expect([name for name, _ in failed] == ["tags round trip"], "exactly the broken step", failed)
    expect("rule broken: SetTags is reflected" in failed[0][1], "the failure names the rule",
           failed[0][1])
    command = [c for c in cases if c.get("name") == "command"][0]
    expect(command.find("system-out").text == "out\\x01put", "command stdout, escaped",
           ET.tostring(command))
    expect(sandbox.instances_left() == [], "no instance left")


def main():
    case = sys.argv[1]
    sandbox = Sandbox()
    try:
        if case == "sigint":
            interrupted(sandbox, signal.SIGINT)
        elif case == "sigterm":
            interrupted(sandbox, signal.SIGTERM)
        elif case == "junit":
            junit(sandbox)
        else:
            raise Failure("unknown case " + case)
    except Failure as e:
        print("FAIL %s: %s" % (case, e))
        return 1
    finally:
        sandbox.close()
    print("ok %s" % case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
