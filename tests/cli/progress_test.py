#!/usr/bin/env python3
"""Progress of long-running CLI steps: shown on a terminal, never in --json.

Runs the built `cloudhost` with stderr on a pseudo-terminal (or a pipe) and
checks what a person and what a script see. One case per run, so that each
is its own meson test:

  create-wait-terminal    create --wait: status and "booted in" on the terminal,
                          stdout only the id
  create-wait-json        create --wait --json on a terminal: stdout only the
                          JSON, stderr nothing
  create-wait-pipe        create --wait, stderr a pipe: stderr nothing
  destroy-wait-terminal   destroy --wait: "gone after" on the terminal
  boot-timeout-terminal   create --wait on an instance that never boots (the
                          example driver's server machine without a key):
                          status lines, then the error; exit 1, id printed
  example-server-boots    the pure-C example driver with "server_program"
                          boots a real SSH server; the CLI's exit stops it

Usage: progress_test.py CASE (CLOUDHOST_BUILD_ROOT names the build tree)
"""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

BUILD = os.environ["CLOUDHOST_BUILD_ROOT"]
CLI = os.path.join(BUILD, "host", "cli", "cloudhost")
SERVER = os.path.join(BUILD, "plugins", "loopback", "server", "cloudhost-loopback-server")
ERASE_LINE = "\r\033[K"
RUN_TIMEOUT = 120  # seconds; every run here takes well under one


class Failure(Exception):
    pass


def expect(condition, what, *context):
    if not condition:
        raise Failure(what + "".join("\n--- " + str(c) for c in context))


class Sandbox:
    """A temporary state dir and config files; destroys what it created."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cloudhost-progress-")
        self.env = dict(os.environ, HOME=self.dir, XDG_STATE_HOME=os.path.join(self.dir, "xdg"))
        self.env.pop("CLOUDHOST_DRIVER_PATH", None)
        self.configs = []

    def config(self, **fields):
        base = {"timeouts": {"boot": "60s", "probe_interval": "100ms",
                             "sync_interval": "100ms", "destroy": "30s"}}
        base.update(fields)
        path = os.path.join(self.dir, "config-%d.json" % len(self.configs))
        with open(path, "w") as out:
            json.dump(base, out)
        self.configs.append(path)
        return path

    def loopback(self):
        return self.config(driver="loopback",
                           driver_parameters={"state_dir": os.path.join(self.dir, "lo")})

    def example(self, **fields):
        fields.setdefault("driver_parameters", {"server_program": SERVER,
                                                "state_dir": self.machines_dir()})
        return self.config(driver="example", instance_secret_path="instance-secret",
                           instance_set_id="zzzzz-zzzzz-progressexample",
                           instance_types={"small": {"provider_type": "s1", "vcpus": 1,
                                                     "ram": "1GiB", "price": 0.01}},
                           **fields)

    def machines_dir(self):
        path = os.path.join(self.dir, "machines")
        os.makedirs(path, exist_ok=True)
        return path

    def close(self):
        for config in self.configs:  # example instances die with their CLI run
            listed = run([CLI, "--config", config, "list", "--json"], self.env, tty=False)
            if listed.status == 0:
                for inst in json.loads(listed.out)["instances"]:
                    run([CLI, "--config", config, "destroy", inst["id"]], self.env, tty=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class Result:
    def __init__(self, status, out, err):
        self.status, self.out, self.err = status, out, err

    def __str__(self):
        return "exit %s\nstdout: %r\nstderr: %r" % (self.status, self.out, self.err)


def run(argv, env, tty):
    """Runs argv with stdout a pipe and stderr a pseudo-terminal (tty) or a pipe."""
    if not tty:
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT)
        return Result(done.returncode, done.stdout, done.stderr)
    master, slave = pty.openpty()
    with tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=slave)
        os.close(slave)
        err = b""
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:  # drain the terminal until every writer is gone
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the last holder of the terminal closed it
                    break
                if not chunk:
                    break
                err += chunk
            elif proc.poll() is not None and not select.select([master], [], [], 0)[0]:
                break
        os.close(master)
        try:
            status = proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise Failure("%s did not finish within %ds" % (argv, RUN_TIMEOUT))
        stdout.seek(0)
        return Result(status, stdout.read().decode(), err.decode(errors="replace"))


def live_servers(machines_dir):
    """Pids of server processes whose command line names a dir under machines_dir."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv[0] == SERVER and any(a.startswith(machines_dir) for a in argv[1:]):
            pids.append(pid)
    return pids


def case_create_wait_terminal(box):
    config = box.loopback()
    r = run([CLI, "--config", config, "create", "--wait"], box.env, tty=True)
    expect(r.status == 0, "create --wait failed", r)
    instance_id = r.out.strip()
    expect(instance_id.startswith("lo-") and r.out == instance_id + "\n",
           "stdout is not exactly the id", r)
    expect(instance_id + " booted in " in r.err, "no 'booted in' progress on the terminal", r)


def case_create_wait_json(box):
    config = box.loopback()
    r = run([CLI, "--config", config, "create", "--wait", "--json"], box.env, tty=True)
    expect(r.status == 0, "create --wait --json failed", r)
    instance = json.loads(r.out)  # nothing but the JSON object on stdout
    expect(instance["address"].startswith("127.0.0.1:"), "no address after --wait", r)
    expect(r.err == "", "progress text in --json mode", r)


def case_create_wait_pipe(box):
    config = box.loopback()
    r = run([CLI, "--config", config, "create", "--wait"], box.env, tty=False)
    expect(r.status == 0, "create --wait failed", r)
    expect(r.err == "", "progress text although stderr is not a terminal", r)


def case_destroy_wait_terminal(box):
    config = box.loopback()
    ids = []
    for _ in range(2):
        r = run([CLI, "--config", config, "create"], box.env, tty=False)
        expect(r.status == 0, "create failed", r)
        ids.append(r.out.strip())
    r = run([CLI, "--config", config, "destroy", "--wait"] + ids, box.env, tty=True)
    expect(r.status == 0, "destroy --wait failed", r)
    expect(r.out == "", "destroy printed on stdout", r)
    expect("2 instance(s) gone after " in r.err, "no 'gone after' progress on the terminal", r)
    listed = run([CLI, "--config", config, "list", "--json"], box.env, tty=False)
    expect(json.loads(listed.out)["instances"] == [], "instances left after destroy --wait",
           listed)
    r = run([CLI, "--config", config, "create"], box.env, tty=False)
    r = run([CLI, "--config", config, "destroy", "--wait", r.out.strip()], box.env, tty=False)
    expect(r.status == 0 and r.err == "", "destroy --wait printed progress to a pipe", r)


def case_boot_timeout_terminal(box):
    # Without a deployed key the example's server refuses to boot.
    config = box.example(deploy_public_key=False,
                         timeouts={"boot": "1s", "probe_interval": "100ms"})
    r = run([CLI, "--config", config, "create", "--wait"], box.env, tty=True)
    expect(r.status == 1, "create --wait succeeded on an instance that cannot boot", r)
    expect(r.out == "example-1\n", "the created instance is not printed", r)
    expect(ERASE_LINE + "[0s] waiting for example-1 to boot: " in r.err,
           "no in-place status line while waiting", r)
    # Issue 11: the last probe runs at the deadline, and the time actually
    # waited is reported (it gave up one probe_interval early before).
    waited = re.search(r"did not boot within timeouts\.boot \(1\.00s: waited ([0-9.]+)s\)",
                       r.err)
    expect(waited is not None, "no timeout error with the time waited", r)
    expect(float(waited.group(1)) >= 1.0, "gave up before timeouts.boot", r)
    # The error starts on a line of its own, after the last status.
    error_at = r.err.index("cloudhost: create:")
    expect(r.err[error_at - 1] == "\n", "the error shares the status line", r)
    r = run([CLI, "--config", config, "create", "--wait", "--json"], box.env, tty=True)
    expect(r.status == 1 and json.loads(r.out)["id"] == "example-1", "--json result", r)
    expect(r.err.startswith("cloudhost: create: example-1 did not boot"),
           "--json: more than the error on stderr", r)
    expect(live_servers(box.machines_dir()) == [], "server processes outlived the CLI")


def case_example_server_boots(box):
    config = box.example()
    r = run([CLI, "--config", config, "create", "--wait", "--json"], box.env, tty=False)
    expect(r.status == 0, "create --wait through the example's server machines", r)
    instance = json.loads(r.out)
    expect(instance["address"].startswith("127.0.0.1:"), "no address", r)
    # The example's cloud lives in its instance set: the CLI's exit stopped
    # the server and removed its directory.
    expect(live_servers(box.machines_dir()) == [], "server processes outlived the CLI")
    expect(os.listdir(box.machines_dir()) == [], "machine directories left",
           os.listdir(box.machines_dir()))


CASES = {name[len("case_"):].replace("_", "-"): fn
         for name, fn in globals().items() if name.startswith("case_")}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit("usage: progress_test.py {%s}" % ",".join(sorted(CASES)))
    box = Sandbox()
    try:
        CASES[sys.argv[1]](box)
    except Failure as failure:
        print("FAIL %s: %s" % (sys.argv[1], failure))
        return 1
    finally:
        box.close()
    print("ok %s" % sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
