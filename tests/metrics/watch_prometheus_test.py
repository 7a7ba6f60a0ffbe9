#!/usr/bin/env python3
"""`cloudhost watch --metrics-listen 127.0.0.1:PORT` scraped by a real
Prometheus server (127.0.0.1, free ports, temporary storage, scrape_interval
1s); values read back through Prometheus's query API.

The watch keeps an instance set of the stub driver whose cloud lives in a
state_dir, so instances created by `cloudhost create` in other processes are
listed by the watch's syncs: Prometheus must see exactly that many in
cloudhost_instances_listed, successful Instances calls, and the endpoint must
pass promtool. usage: watch_prometheus_test.py CLOUDHOST STUB_DIR PROMTOOL"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

cli, stub_dir, promtool = sys.argv[1:4]
SET_ID = "zzzzz-zzzzz-zzzzzzpromwatch"
CREATES = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def query(port, promql):
    """The value of a one-sample instant query, or None."""
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": promql}))
    try:
        _, _, body = get(url)
    except OSError:
        return None
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) if len(result) == 1 else None


def wait_for(port, promql, accept, seconds=60):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = query(port, promql)
        if last is not None and accept(last):
            return last
        time.sleep(0.25)
    raise AssertionError("%s: Prometheus answered %r within %ds" % (promql, last, seconds))


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


with tempfile.TemporaryDirectory(prefix="cloudhost-watch-prom-") as work:
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump({
            "driver": "stub", "driver_dirs": [stub_dir], "instance_set_id": SET_ID,
            "driver_parameters": {"cloud": "prom", "state_dir": os.path.join(work, "state")},
            "instance_types": {"small": {"provider_type": "small", "vcpus": 1, "ram": "1GiB",
                                         "price": 0.1}},
            "timeouts": {"sync_interval": "200ms"},
        }, f)

    # A bad address is refused naming the flag, before anything starts.
    bad = subprocess.run([cli, "--config", config, "watch", "--metrics-listen", "127.0.0.1:x"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2, (bad.returncode, bad.stderr)
    assert "--metrics-listen" in bad.stderr and "0-65535" in bad.stderr, bad.stderr

    for _ in range(CREATES):
        made = subprocess.run([cli, "--config", config, "create", "--type", "small"],
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr

    metrics_port, prom_port = free_port(), free_port()
    watch = subprocess.Popen([cli, "--config", config, "watch", "--json", "--metrics-listen",
                              "127.0.0.1:%d" % metrics_port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prometheus = None
    try:
        # The endpoint answers once the watch has started (bounded wait).
        body = None
        for _ in range(200):
            try:
                status, content_type, body = get("http://127.0.0.1:%d/metrics" % metrics_port)
                if 'cloudhost_instances_listed{' in body:
                    break
            except OSError:
                pass
            assert watch.poll() is None, watch.stderr.read()
            time.sleep(0.1)
        assert body and 'cloudhost_instances_listed{' in body, body
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4"), content_type
        lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                              text=True, timeout=60)
        assert lint.returncode == 0, lint.stdout + lint.stderr + body

        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: watch\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % metrics_port)
        prom_log = open(os.path.join(work, "prometheus.log"), "w")
        prometheus = subprocess.Popen(
            ["prometheus", "--config.file=" + os.path.join(work, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(work, "data"),
             "--web.listen-address=127.0.0.1:%d" % prom_port, "--log.level=warn"],
            stdout=prom_log, stderr=prom_log)

        sel = '{driver="stub",instance_set_id="%s"}' % SET_ID
        wait_for(prom_port, 'up{job="watch"}', lambda v: v == 1)
        wait_for(prom_port, "cloudhost_instances_listed" + sel, lambda v: v == CREATES)
        wait_for(prom_port, 'sum(cloudhost_driver_operations_total{driver="stub",instance_set_id="%s",'
                 'operation="instances",outcome="ok"})' % SET_ID, lambda v: v >= 1)
        assert query(prom_port, 'sum(cloudhost_driver_operations_total{instance_set_id="%s",'
                     'operation="create"})' % SET_ID) == 0  # the watch itself created nothing
        print("prometheus saw %d instances listed by the watch" % CREATES)
    finally:
        if prometheus:
            stop(prometheus)
        stop(watch)
    # Stopped by SIGTERM after a clean drain: 128+SIGTERM (host/cli/commands/watch.cpp).
    assert watch.returncode == 128 + signal.SIGTERM, (watch.returncode, watch.stderr.read())
