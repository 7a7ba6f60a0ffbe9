"""The tests' side door (plain HTTP, JSON): faults, counters, instances,
recorded responses, spot prices. See ../README.md."""

import http.server
import json
import threading

from .model import to_json

MAX_BODY = 1 << 20


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    timeout = 30

    def log_message(self, *args):
        pass

    def _reply(self, status, value):
        data = (json.dumps(to_json(value), indent=1) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise ValueError("a Content-Length up to 1 MiB is required")
        text = self.rfile.read(int(length)).decode("utf-8", "replace")
        try:
            return json.loads(text) if text.strip() else None
        except json.JSONDecodeError as e:
            raise ValueError(f"body is not JSON: line {e.lineno} column {e.colno}: {e.msg}")

    def do_GET(self):
        state = self.server.state
        routes = {"/faults": state["faults"].pending, "/counters": state["counters"].snapshot,
                  "/instances": state["instances"].snapshot, "/responses": state["api"].kept_responses}
        if self.path not in routes:
            return self._reply(404, {"error": f"no such path {self.path[:100]}"})
        self._reply(200, routes[self.path]())

    def do_POST(self):
        state = self.server.state
        try:
            body = self._body()
            if self.path == "/faults":
                for spec in body if isinstance(body, list) else [body]:
                    state["faults"].add(spec)
                return self._reply(200, state["faults"].pending())
            if self.path == "/counters/reset":
                state["counters"].reset()
                return self._reply(200, state["counters"].snapshot())
            if self.path == "/spot-prices":
                state["spot_prices"].set_table(body)
                return self._reply(200, {"ok": True})
        except ValueError as e:
            return self._reply(400, {"error": str(e)})
        self._reply(404, {"error": f"no such path {self.path[:100]}"})

    def do_DELETE(self):
        if self.path != "/faults":
            return self._reply(404, {"error": f"no such path {self.path[:100]}"})
        self.server.state["faults"].clear()
        self._reply(200, [])


def start_control(state):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = state
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    return server
