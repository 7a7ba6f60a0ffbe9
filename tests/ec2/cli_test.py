#!/usr/bin/env python3
"""The ec2 driver through the `cloudhost` command, against the fake EC2
endpoint (tests/ec2/endpoint) whose instances are real SSH servers. One case
per run, so that each is its own meson test:

  cloudtest        `cloudhost cloudtest` passes end to end (RunInstances, listed
                   at once, boot, SSH with the instance secret, TerminateInstances)
  conformance      `cloudhost cloudtest --conformance` passes every rule but the
                   typed error (no fault a driver parameter can ask for)
  lifecycle        create --wait, list --tag, tag, exec, destroy --wait, each a
                   separate process
  keypair-once     two processes creating with the same SSH key: one
                   ImportKeyPair; the second finds it with DescribeKeyPairs
  errors           a fault the endpoint injects reaches the operator as one line
                   naming the EC2 code, exit status 1

Usage: cli_test.py CASE (CLOUDHOST_BUILD_ROOT, CLOUDHOST_SOURCE_ROOT set by meson)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = os.environ["CLOUDHOST_BUILD_ROOT"]
SOURCE = os.environ["CLOUDHOST_SOURCE_ROOT"]
CLI = os.path.join(BUILD, "host", "cli", "cloudhost")
SERVER = os.path.join(BUILD, "plugins", "loopback", "server", "cloudhost-loopback-server")
ENDPOINT = os.path.join(SOURCE, "tests", "ec2", "endpoint", "run_endpoint.py")
RUN_TIMEOUT = 180
SET_ID = "zzzzz-zzzzz-zzzzzzzzec2cli1"


class Failure(Exception):
    pass


def expect(condition, what, *context):
    if not condition:
        raise Failure(what + "".join("\n--- " + str(c) for c in context))


class Endpoint:
    """The fake EC2 as a child process; stopped (with its SSH servers) on exit."""

    def __init__(self, state_dir, *args):
        self.state_dir = state_dir
        self.log = open(os.path.join(state_dir, "endpoint.log"), "w")
        self.process = subprocess.Popen(
            ["/usr/bin/python3", ENDPOINT, "--state-dir", state_dir, "--exit-with-parent",
             "--loopback-server", SERVER, *args],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        ready = os.path.join(state_dir, "ready.json")
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            expect(self.process.poll() is None, "the endpoint exited early", self.log_tail())
            expect(time.monotonic() < deadline, "the endpoint was not ready in 60 s", self.log_tail())
            time.sleep(0.05)
        with open(ready) as f:
            self.info = json.load(f)

    def log_tail(self):
        with open(os.path.join(self.state_dir, "endpoint.log")) as f:
            return f.read()[-3000:]

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.info["control_url"].rstrip("/") + path, data=data,
                                         method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def count(self, action):
        return self.control("GET", "/counters")["actions"].get(action, 0)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Sandbox:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cloudhost-ec2-cli-")
        self.env = dict(os.environ, HOME=self.dir, XDG_STATE_HOME=os.path.join(self.dir, "xdg"))
        for name in ("CLOUDHOST_DRIVER_PATH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                     "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            self.env.pop(name, None)
        os.mkdir(os.path.join(self.dir, "endpoint"))
        self.endpoint = Endpoint(os.path.join(self.dir, "endpoint"))
        info = self.endpoint.info
        self.config_path = os.path.join(self.dir, "ec2.json")
        with open(self.config_path, "w") as f:
            json.dump({
                "driver": "ec2",
                "driver_dirs": [os.path.join(BUILD, "plugins", "ec2")],
                "driver_parameters": {
                    "region": info["region"], "endpoint": info["endpoint_url"],
                    "ca_file": info["ca_file"], "access_key_id": info["access_key_id"],
                    "secret_access_key": info["secret_access_key"]},
                "instance_set_id": SET_ID,
                # Every instance shares this machine's filesystem: keep secrets apart.
                "instance_secret_path": "instance-secret",
                "ssh_port": info["ssh_port"],
                "instance_types": {"small": {"provider_type": "t3.small", "vcpus": 2,
                                             "ram": "2GiB", "price": 0.02}},
                "image_id": "ami-0123456789abcdef0",
                "boot_probe_command": "true",
                "timeouts": {"boot": "60s", "probe_interval": "200ms", "sync_interval": "200ms",
                             "destroy": "30s"},
            }, f)

    def cli(self, *args, status=0):
        result = subprocess.run([CLI, "--config", self.config_path, *args], env=self.env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=RUN_TIMEOUT)
        expect(status is None or result.returncode == status,
               f"cloudhost {' '.join(args)}: exit {result.returncode}, expected {status}",
               result.stdout, result.stderr, self.endpoint.log_tail())
        return result

    def listed(self, *tags):
        args = ["list", "--json"]
        for tag in tags:
            args += ["--tag", tag]
        return json.loads(self.cli(*args).stdout)["instances"]

    def close(self):
        """Stops the endpoint; True if no instance was left pending or running."""
        try:
            running = [i for i in self.endpoint.control("GET", "/instances")
                       if i.get("State", {}).get("Name") in ("pending", "running")]
        finally:
            self.endpoint.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
        return not running


def case_cloudtest(box):
    result = box.cli("cloudtest", "--json")
    report = json.loads(result.stdout)
    expect(report.get("passed") is True or report.get("ok") is True, "cloudtest did not pass",
           result.stdout)
    expect(box.endpoint.count("RunInstances") == 1, "one RunInstances")
    expect(box.endpoint.count("TerminateInstances") >= 1, "TerminateInstances called")
    expect(box.listed() == [], "nothing left listed")


def case_conformance(box):
    # Every rule of the kit (docs/driver-guide.md "Conformance") on the ec2
    # driver, isolated as the CLI runs an unsigned driver. The endpoint has no
    # knob a driver parameter can turn into a typed error: that step skips.
    result = box.cli("cloudtest", "--conformance", "--settle", "30s", "--json", status=None)
    report = json.loads(result.stdout)
    bad = [s for s in report["steps"] if not s["ok"]]
    expect(not bad and report["ok"] is True, "cloudtest --conformance passed", result.stdout,
           result.stderr)
    skipped = sorted(s["name"] for s in report["steps"] if s["skipped"])
    expect(skipped == ["typed error"], "only the typed error step skipped", skipped)
    expect(len(report["steps"]) >= 12, "every conformance step ran", result.stdout)
    expect(box.listed() == [], "nothing left listed")


def case_lifecycle(box):
    created = box.cli("create", "--type", "small", "--tag", "team=batch", "--wait", "--json")
    instance = json.loads(created.stdout)
    iid = instance["id"] if "id" in instance else instance["instance"]["id"]
    expect(iid.startswith("i-"), "an EC2 instance id", created.stdout)
    ours = box.listed("team=batch")
    expect([i["id"] for i in ours] == [iid], "list --tag finds it", ours)
    expect(box.listed("team=other") == [], "list --tag with another value finds nothing")
    expect(ours[0]["address"].startswith("127."), "its private address", ours)
    box.cli("tag", iid, "team=web", "stage=2")
    tagged = box.listed("team=web")
    expect([i["id"] for i in tagged] == [iid], "tag changed the tag", tagged)
    expect(tagged[0]["tags"].get("stage") == "2", "tag added a tag", tagged)
    expect(box.endpoint.count("CreateTags") == 1, "one CreateTags")
    out = box.cli("exec", iid, "--env", "GREETING=hello", "--", "echo $GREETING; exit 3",
                  status=3)
    expect(out.stdout == "hello\n", "exec runs the command over SSH", out.stdout, out.stderr)
    box.cli("destroy", iid, "--wait")
    expect(box.listed() == [], "destroy --wait: gone")
    expect(box.endpoint.count("TerminateInstances") == 1, "one TerminateInstances")


def case_keypair_once(box):
    # Destroy by the ids create printed: a fresh instance may not be listed
    # yet (the endpoint lags listings like EC2).
    created = [box.cli("create", "--type", "small").stdout.strip() for _ in range(2)]
    expect(box.endpoint.count("ImportKeyPair") == 1, "the key pair is imported once",
           box.endpoint.control("GET", "/counters"))
    expect(box.endpoint.count("DescribeKeyPairs") == 2, "each process looks it up once")
    for instance_id in created:
        box.cli("destroy", instance_id)


def case_errors(box):
    for code, words in (("InsufficientInstanceCapacity", "InsufficientInstanceCapacity"),
                        ("InstanceLimitExceeded", "InstanceLimitExceeded"),
                        ("RequestLimitExceeded", "RequestLimitExceeded")):
        box.endpoint.control("POST", "/faults", {"action": "RunInstances", "code": code})
        result = box.cli("create", "--type", "small", status=1)
        lines = result.stderr.strip().splitlines()
        expect(len(lines) >= 1 and words in lines[-1], f"{code}: one line naming it", result.stderr)
    expect(box.listed() == [], "no instance was made")


CASES = {"cloudtest": case_cloudtest, "conformance": case_conformance, "lifecycle": case_lifecycle,
         "keypair-once": case_keypair_once, "errors": case_errors}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: cli_test.py " + "|".join(CASES), file=sys.stderr)
        return 2
    box = Sandbox()
    try:
        CASES[sys.argv[1]](box)
    except Failure as e:
        print(f"FAIL {sys.argv[1]}: {e}", file=sys.stderr)
        box.close()
        return 1
    except BaseException:
        box.close()
        raise
    clean = box.close()
    if not clean:
        print(f"FAIL {sys.argv[1]}: an instance was left running", file=sys.stderr)
        return 1
    print(f"ok {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
