"""Fault injection and request counters, shared by every request thread."""

import collections
import threading

from .errors import ApiError, default_status

_FAULT_KEYS = {"action", "code", "count", "subnet", "instance_type", "message", "status"}
# Bounds on what the control interface keeps.
MAX_FAULTS = 1000
MAX_ERRORS_KEPT = 100


def _default_message(code, subnet):
    messages = {
        "RequestLimitExceeded": "Request limit exceeded.",
        "Throttling": "Rate exceeded",
        "InstanceLimitExceeded": "You have requested more instances than your current instance limit allows.",
        "InsufficientFreeAddressesInSubnet": f"There are not enough free addresses in subnet '{subnet}' "
                                             "to satisfy the requested number of instances.",
        "MaxSpotInstanceCountExceeded": "Max spot instance count exceeded",
        "VcpuLimitExceeded": "You have requested more vCPU capacity than your current vCPU limit allows.",
        "InsufficientInstanceCapacity": "We currently do not have sufficient capacity in the Availability "
                                        "Zone you requested.",
        "InvalidSubnetID.NotFound": f"The subnet ID '{subnet}' does not exist",
    }
    return messages.get(code, f"injected fault {code}")


def parse_fault(spec):
    """A fault from its JSON object; ValueError names the bad field."""
    if not isinstance(spec, dict):
        raise ValueError("a fault is a JSON object")
    unknown = set(spec) - _FAULT_KEYS
    if unknown:
        raise ValueError(f"unknown fault field {sorted(unknown)[0]!r} (known: {', '.join(sorted(_FAULT_KEYS))})")
    code = spec.get("code")
    if not isinstance(code, str) or not code:
        raise ValueError("fault field 'code' must be a non-empty string")
    count = spec.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count == 0 or count < -1:
        raise ValueError("fault field 'count' must be a positive integer or -1 (forever)")
    for field in ("action", "subnet", "instance_type", "message"):
        if field in spec and not isinstance(spec[field], str):
            raise ValueError(f"fault field {field!r} must be a string")
    status = spec.get("status", default_status(code))
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("fault field 'status' must be an HTTP error status (400..599)")
    return {"action": spec.get("action"), "code": code, "count": count, "subnet": spec.get("subnet"),
            "instance_type": spec.get("instance_type"), "message": spec.get("message"), "status": status}


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, spec):
        fault = parse_fault(spec)
        with self._lock:
            if len(self._faults) >= MAX_FAULTS:
                raise ValueError(f"at most {MAX_FAULTS} pending faults")
            self._faults.append(fault)

    def pending(self):
        with self._lock:
            return [dict(f) for f in self._faults]

    def clear(self):
        with self._lock:
            self._faults.clear()

    def take(self, action, subnet=None, instance_type=None):
        """Raises the first matching fault's error (and uses it up), if any."""
        with self._lock:
            for fault in self._faults:
                if fault["action"] not in (None, action):
                    continue
                if fault["subnet"] is not None and fault["subnet"] != subnet:
                    continue
                if fault["instance_type"] is not None and fault["instance_type"] != instance_type:
                    continue
                if fault["count"] > 0:
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        self._faults.remove(fault)
                error = ApiError(fault["code"], fault["message"] or _default_message(fault["code"], subnet),
                                 fault["status"])
                error.injected = True
                raise error


class Counters:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "_lock"):
            self._actions = collections.Counter()
            self._faults = collections.Counter()
            self._subnets = collections.Counter()
            self._imds = collections.Counter()
            self._auth_failures = 0
            self._validation_failures = 0
            self._internal_errors = 0
            self._errors = collections.deque(maxlen=MAX_ERRORS_KEPT)

    def request(self, action):
        with self._lock:
            self._actions[action] += 1

    def run_instances_in(self, subnet):
        with self._lock:
            self._subnets[subnet or ""] += 1

    def fault_injected(self, action, code):
        with self._lock:
            self._faults[f"{action}:{code}"] += 1

    def rejected(self, kind, line):
        with self._lock:
            if kind == "auth":
                self._auth_failures += 1
            elif kind == "internal":
                self._internal_errors += 1
            else:
                self._validation_failures += 1
            self._errors.append(line)

    def imds(self, what):
        with self._lock:
            self._imds[what] += 1

    def snapshot(self):
        with self._lock:
            return {"actions": dict(self._actions), "faults_injected": dict(self._faults),
                    "run_instances_by_subnet": dict(self._subnets), "imds": dict(self._imds),
                    "auth_failures": self._auth_failures, "validation_failures": self._validation_failures,
                    "internal_errors": self._internal_errors,
                    "errors": list(self._errors)}
