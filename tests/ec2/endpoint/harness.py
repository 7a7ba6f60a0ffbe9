"""Starting the EC2 test endpoint from a Python test, and talking to it:
a botocore EC2 client, the control interface, raw signed requests."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.httpsession
import botocore.parsers
import botocore.session

HERE = os.path.dirname(os.path.abspath(__file__))
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def find_loopback_server():
    """The built cloudhost-loopback-server (CLOUDHOST_BUILD_ROOT, else ../../../build)."""
    roots = [os.environ.get("CLOUDHOST_BUILD_ROOT"), os.path.join(HERE, "..", "..", "..", "build")]
    for root in filter(None, roots):
        path = os.path.join(root, "plugins", "loopback", "server", "cloudhost-loopback-server")
        if os.access(path, os.X_OK):
            return os.path.abspath(path)
    raise RuntimeError("cloudhost-loopback-server is not built (set CLOUDHOST_BUILD_ROOT)")


class Endpoint:
    """A running endpoint: start(), then .ready (the ready file), stop()."""

    def __init__(self, state_dir, *extra_args, ssh=True, launcher=None):
        self.state_dir = state_dir
        self.ready_file = os.path.join(state_dir, "ready.json")
        args = [sys.executable, os.path.join(HERE, "run_endpoint.py"), "--state-dir", state_dir]
        args += ["--loopback-server", find_loopback_server()] if ssh else ["--no-ssh-servers"]
        args += list(extra_args)
        self.log_path = os.path.join(state_dir + ".log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen((launcher or []) + args, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while not os.path.exists(self.ready_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the endpoint did not start: {self.log()}")
            time.sleep(0.05)
        with open(self.ready_file) as f:
            self.ready = json.load(f)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def stop(self, sig=signal.SIGTERM):
        """Stops the endpoint; returns its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            status = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        self._log.close()
        return status

    def client(self, access_key_id=None, secret_access_key=None, session_token=None):
        """botocore's own EC2 client, SDK retries off (as the driver has them)."""
        r = self.ready
        return botocore.session.get_session().create_client(
            "ec2", region_name=r["region"], endpoint_url=r["endpoint_url"], verify=r["ca_file"],
            aws_access_key_id=access_key_id or r["access_key_id"],
            aws_secret_access_key=secret_access_key or r["secret_access_key"],
            aws_session_token=session_token,
            config=botocore.config.Config(retries={"max_attempts": 0}, connect_timeout=10, read_timeout=30))

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.ready["control_url"] + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def counters(self):
        return self.control("GET", "/counters")[1]

    def raw(self, params, secret=None, access_key_id=None, tamper=None, amz_date=None, sign=True, headers=None):
        """POSTs form `params` signed with botocore's signer; returns (status, parsed error or body)."""
        r = self.ready
        body = urllib.parse.urlencode(params).encode()
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=r["endpoint_url"], data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **(headers or {})})
        if sign:
            creds = botocore.credentials.Credentials(access_key_id or r["access_key_id"],
                                                     secret or r["secret_access_key"])
            signer = botocore.auth.SigV4Auth(creds, "ec2", r["region"])
            if amz_date:
                request.context["timestamp"] = amz_date
                signer._modify_request_before_signing(request)
                canonical = signer.canonical_request(request)
                signature = signer.signature(signer.string_to_sign(request, canonical), request)
                signer._inject_signature_to_request(request, signature)
            else:
                signer.add_auth(request)
        if tamper:
            request.data = tamper(body)
        session = botocore.httpsession.URLLib3Session(verify=r["ca_file"])
        try:
            response = session.send(request.prepare())
        finally:
            session.close()
        return response.status_code, response.content


def parse_error(status, content):
    """botocore's EC2 parser on an error response: (code, message)."""
    parsed = botocore.parsers.EC2QueryParser().parse(
        {"body": content, "status_code": status, "headers": {}}, None)
    return parsed["Error"]["Code"], parsed["Error"]["Message"]
