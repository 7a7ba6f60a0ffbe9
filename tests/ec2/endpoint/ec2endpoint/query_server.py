"""The EC2 Query API over HTTPS: read the form, check the signature and the
parameters, run the action, answer with EC2's XML. Every response is kept
(bounded) so a test can parse each with botocore's own parser."""

import collections
import http.server
import socket
import threading
import urllib.parse
import uuid

from . import model, sigv4
from .errors import ApiError

MAX_BODY = 1 << 20
MAX_RESPONSES_KEPT = 2000
CONNECTION_TIMEOUT = 30


class Ec2Api:
    """Action dispatch; each action takes the decoded parameters."""

    def __init__(self, instances, key_pairs, spot_prices, faults, counters, credentials, region, page_size):
        self.faults = faults
        self.counters = counters
        self.credentials = credentials
        self.region = region
        self.responses = collections.deque(maxlen=MAX_RESPONSES_KEPT)
        self.responses_lock = threading.Lock()
        self._actions = {
            "RunInstances": instances.run_instances,
            "DescribeInstances": lambda p: instances.describe_instances(p, page_size),
            "DescribeInstanceStatus": lambda p: instances.describe_instance_status(p, page_size),
            "CreateTags": instances.create_tags,
            "TerminateInstances": instances.terminate_instances,
            "ImportKeyPair": key_pairs.import_key_pair,
            "DescribeKeyPairs": key_pairs.describe_key_pairs,
            "DescribeSpotPriceHistory": lambda p: spot_prices.describe(p, page_size),
        }

    def handle(self, host, path, headers, body):
        """(status, xml bytes) for one request."""
        request_id = str(uuid.uuid4())
        action = "(none)"
        op = None
        try:
            if path != "/":
                raise ApiError("InvalidAction", f"no such path {path[:100]!r}; the API is at /")
            content_type = headers.get("Content-Type", "")
            if not content_type.startswith("application/x-www-form-urlencoded"):
                raise ApiError("InvalidParameterValue", "the body must be application/x-www-form-urlencoded")
            try:
                pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                                               max_num_fields=model.MAX_PARAMETERS + 2)
            except (UnicodeDecodeError, ValueError) as e:
                raise ApiError("InvalidParameterValue", f"malformed form body: {e}")
            params = {}
            for key, value in pairs:
                if key in params:
                    raise ApiError("InvalidParameterValue", f"parameter {key} is given twice")
                params[key] = value
            action = params.pop("Action", "(none)")[:64]
            self.counters.request(action)
            try:
                sigv4.verify("POST", f"https://{host}", path, headers, body, self.region,
                             self.credentials.secret_for)
            except ApiError as e:
                self.counters.rejected("auth", f"{action}: {e.code}: {e.message}")
                raise
            try:
                version = params.pop("Version", None)
                if version != model.API_VERSION:
                    raise ApiError("InvalidParameterValue", f"Version must be {model.API_VERSION}, not {version}")
                if action not in self._actions:
                    raise ApiError("InvalidAction", f"The action {action} is not valid for this web service.")
                op = model.operation(action)
                decoded = model.decode_request(op, params)
            except ApiError as e:
                self.counters.rejected("validation", f"{action}: {e.code}: {e.message}")
                raise
            if decoded.get("DryRun"):
                self.faults.take(action)
                raise ApiError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)
            result = self._actions[action](decoded)
            xml = model.response_xml(op, result, request_id)
            self._keep(action, 200, xml, result)
            return 200, xml
        except ApiError as e:
            if getattr(e, "injected", False):
                self.counters.fault_injected(action, e.code)
            xml = model.error_xml(e.code, e.message, request_id)
            self._keep(action, e.status, xml, {"Error": {"Code": e.code, "Message": e.message}})
            return e.status, xml
        except Exception as e:  # a bug in the endpoint: say so to the client and in the counters
            message = f"test endpoint bug: {type(e).__name__}: {e}"
            self.counters.rejected("internal", f"{action}: {message}")
            xml = model.error_xml("InternalError", message, request_id)
            self._keep(action, 500, xml, {"Error": {"Code": "InternalError", "Message": message}})
            return 500, xml

    def _keep(self, action, status, xml, expected):
        with self.responses_lock:
            self.responses.append({"action": action, "status": status, "xml": xml.decode(),
                                   "expected": model.to_json(expected)})

    def kept_responses(self):
        with self.responses_lock:
            return list(self.responses)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    timeout = CONNECTION_TIMEOUT

    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True
            return self._reply(413 if length.isdigit() else 411,
                               model.error_xml("InvalidParameterValue", "a Content-Length up to 1 MiB is required",
                                               str(uuid.uuid4())))
        body = self.rfile.read(int(length))
        host = self.headers.get("Host", "")
        status, xml = self.server.api.handle(host, urllib.parse.urlsplit(self.path).path or "/", self.headers, body)
        self._reply(status, xml)

    def do_GET(self):
        self._reply(400, model.error_xml("InvalidAction", "the test endpoint takes POST requests only",
                                         str(uuid.uuid4())))


class _TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, context, api):
        super().__init__(address, _Handler)
        self.context = context
        self.api = api

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's own thread, so one slow
        # client cannot stall accept().
        request.settimeout(CONNECTION_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, socket.timeout):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def start_query_server(context, api):
    server = _TlsServer(("127.0.0.1", 0), context, api)
    threading.Thread(target=server.serve_forever, name="ec2-query", daemon=True).start()
    return server
