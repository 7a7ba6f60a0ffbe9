"""IMDSv2 credential endpoints (plain HTTP) and the credentials the EC2
endpoint accepts: the static test key, and the current and previous
generations of the rotating role credentials IMDS hands out."""

import datetime
import hashlib
import http.server
import json
import secrets
import threading
import time

MAX_TOKEN_TTL = 21600
MAX_TOKENS = 10000


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Credentials:
    def __init__(self, access_key_id, secret_access_key, lifetime, role_name, clock=time.time):
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.lifetime = lifetime
        self.role_name = role_name
        self._clock = clock
        self._start = clock()
        self._salt = secrets.token_hex(8)

    def _generation_now(self):
        return int((self._clock() - self._start) // self.lifetime)

    def role_credentials(self, generation=None):
        """Generation g is issued at start + g*lifetime and expires one lifetime later."""
        if generation is None:
            generation = self._generation_now()
        digest = hashlib.sha256(f"{self._salt}/{generation}".encode()).hexdigest()
        issued = self._start + generation * self.lifetime
        return {"AccessKeyId": "ASIA" + digest[:16].upper(), "SecretAccessKey": "role-secret-" + digest[16:48],
                "Token": "role-token-" + digest[48:], "Generation": generation,
                "LastUpdated": _iso(issued), "Expiration": _iso(issued + self.lifetime)}

    def secret_for(self, access_key_id, session_token):
        """The secret of a key the endpoint accepts now, else None."""
        if access_key_id == self.access_key_id and session_token is None:
            return self._secret
        now = self._generation_now()
        for generation in (now, now - 1):
            if generation < 0:
                continue
            creds = self.role_credentials(generation)
            if creds["AccessKeyId"] == access_key_id and creds["Token"] == session_token:
                return creds["SecretAccessKey"]
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):
        pass

    def _reply(self, status, body, content_type="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 65536))
        if self.path != "/latest/api/token":
            return self._reply(404, "Not Found")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TOKEN_TTL:
            return self._reply(400, "Bad Request")
        server.counters.imds("token")
        token = secrets.token_urlsafe(32)
        with server.lock:
            now = time.monotonic()
            server.tokens = {t: exp for t, exp in server.tokens.items() if exp > now}
            if len(server.tokens) >= MAX_TOKENS:
                return self._reply(503, "Too many tokens")
            server.tokens[token] = now + int(ttl)
        self._reply(200, token)

    def do_GET(self):
        server = self.server
        token = self.headers.get("X-aws-ec2-metadata-token")
        with server.lock:
            valid = token is not None and server.tokens.get(token, 0) > time.monotonic()
        if not valid:
            server.counters.imds("unauthorized")
            return self._reply(401, "Unauthorized")
        prefix = "/latest/meta-data/iam/security-credentials/"
        role = server.credentials.role_name
        if self.path == prefix:
            return self._reply(200, role)
        if self.path == prefix + role:
            server.counters.imds("credentials")
            creds = dict(server.credentials.role_credentials())
            del creds["Generation"]
            creds.update({"Code": "Success", "Type": "AWS-HMAC"})
            return self._reply(200, json.dumps(creds), "application/json")
        self._reply(404, "Not Found")


def start_imds(credentials, counters):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.credentials = credentials
    server.counters = counters
    server.tokens = {}
    server.lock = threading.Lock()
    threading.Thread(target=server.serve_forever, name="imds", daemon=True).start()
    return server
