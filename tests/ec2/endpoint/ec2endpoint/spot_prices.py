"""DescribeSpotPriceHistory over a price table: set by tests through the
control interface, else made up (stable per type and zone, one entry every
6 hours)."""

import datetime
import hashlib
import threading

from . import listing
from .errors import ApiError

GENERATED_STEP = datetime.timedelta(hours=6)
MAX_GENERATED_SPAN = datetime.timedelta(days=90)
_FILTERS = {"availability-zone", "instance-type", "product-description", "spot-price", "timestamp"}
_DEFAULT_TYPES = ["m5.large", "t3.small"]


def _made_up_price(instance_type, zone, when):
    digest = hashlib.sha256(f"{instance_type}/{zone}/{when.isoformat()}".encode()).digest()
    return f"{0.01 + int.from_bytes(digest[:2], 'big') / 65535 * 0.5:.6f}"


class SpotPrices:
    def __init__(self, zones, faults):
        self._faults = faults
        self._zones = zones
        self._lock = threading.Lock()
        self._table = None

    def set_table(self, entries):
        """entries: [{"instance_type", "availability_zone", "price", "timestamp" (ISO 8601)}]."""
        if not isinstance(entries, list):
            raise ValueError("spot prices: expected a JSON list")
        table = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or set(e) != {"instance_type", "availability_zone", "price", "timestamp"}:
                raise ValueError(f"spot prices[{i}]: needs exactly instance_type, availability_zone, price, timestamp")
            try:
                when = datetime.datetime.fromisoformat(str(e["timestamp"]).replace("Z", "+00:00"))
                price = f"{float(e['price']):.6f}"
            except ValueError as error:
                raise ValueError(f"spot prices[{i}]: {error}")
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.timezone.utc)
            when = when.replace(microsecond=when.microsecond // 1000 * 1000)  # EC2 has milliseconds
            table.append({"AvailabilityZone": str(e["availability_zone"]), "InstanceType": str(e["instance_type"]),
                          "ProductDescription": "Linux/UNIX", "SpotPrice": price, "Timestamp": when})
        with self._lock:
            self._table = table

    def _entries(self, params, now):
        with self._lock:
            if self._table is not None:
                return list(self._table)
        start = params.get("StartTime") or now - datetime.timedelta(days=1)
        end = min(params.get("EndTime") or now, now)
        start = max(start, end - MAX_GENERATED_SPAN)
        # Entries on a fixed 6-hour grid, so that two queries agree.
        first = datetime.datetime.fromtimestamp(
            (int(start.timestamp()) // int(GENERATED_STEP.total_seconds())) * int(GENERATED_STEP.total_seconds()),
            datetime.timezone.utc)
        entries = []
        for instance_type in params.get("InstanceTypes") or _DEFAULT_TYPES:
            for zone in self._zones:
                when = first
                while when <= end:
                    entries.append({"AvailabilityZone": zone, "InstanceType": instance_type,
                                    "ProductDescription": "Linux/UNIX",
                                    "SpotPrice": _made_up_price(instance_type, zone, when), "Timestamp": when})
                    when += GENERATED_STEP
        return entries

    def describe(self, params, page_size):
        now = datetime.datetime.now(datetime.timezone.utc)
        if params.get("StartTime") and params.get("EndTime") and params["StartTime"] > params["EndTime"]:
            raise ApiError("InvalidParameterValue", "StartTime must be before EndTime")
        compiled = listing.compile_filters(params.get("Filters"), _FILTERS)
        self._faults.take("DescribeSpotPriceHistory")
        entries = []
        for e in self._entries(params, now):
            if params.get("InstanceTypes") and e["InstanceType"] not in params["InstanceTypes"]:
                continue
            if params.get("ProductDescriptions") and e["ProductDescription"] not in params["ProductDescriptions"]:
                continue
            if params.get("AvailabilityZone") and e["AvailabilityZone"] != params["AvailabilityZone"]:
                continue
            if params.get("EndTime") and e["Timestamp"] > params["EndTime"]:
                continue
            if params.get("StartTime") and e["Timestamp"] < params["StartTime"]:
                continue
            values = {"availability-zone": [e["AvailabilityZone"]], "instance-type": [e["InstanceType"]],
                      "product-description": [e["ProductDescription"]], "spot-price": [e["SpotPrice"]],
                      "timestamp": [e["Timestamp"].strftime("%Y-%m-%dT%H:%M:%S.000Z")]}
            if listing.matches(compiled, values.__getitem__):
                entries.append(e)
        # Newest first, as EC2 lists them; the position is the page key.
        entries.sort(key=lambda e: (e["Timestamp"], e["InstanceType"], e["AvailabilityZone"]), reverse=True)
        numbered = list(enumerate(entries))
        chunk, token = listing.page(numbered, lambda n: n[0], params, page_size, max_results_range=(5, 1000))
        result = {"SpotPriceHistory": [e for _, e in chunk]}
        if token:
            result["NextToken"] = token
        return result
