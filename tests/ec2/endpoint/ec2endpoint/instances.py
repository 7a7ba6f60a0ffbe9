"""Instances and their life like real EC2's: listed only a moment after
RunInstances (eventual consistency), pending then running, a private
address that appears after a moment, shutting-down then terminated, and
listed as terminated for a while. Each runs a real SSH server."""

import base64
import binascii
import datetime
import ipaddress
import itertools
import os
import re
import secrets
import threading
import time

from . import listing
from .errors import ApiError
from .tags import check_tags, tags_for

MAX_INSTANCES = 1000          # alive at once
MAX_USER_DATA = 16384         # bytes, decoded (EC2's limit)
MAX_COUNT = 20
OWNER_ID = "123456789012"
VPC_ID = "vpc-0e2e0000000000001"
_STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48}
_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8}([0-9a-f]{9})?")
_FILTERS = {"instance-id", "instance-type", "instance-state-name", "instance-state-code", "tag:*", "tag-key",
            "tag-value", "subnet-id", "private-ip-address", "image-id", "key-name", "availability-zone",
            "instance-lifecycle", "reservation-id", "vpc-id", "iam-instance-profile.arn"}
_STATUS_FILTERS = {"availability-zone", "instance-state-name", "instance-state-code"}


class Delays:
    def __init__(self, list_delay, pending, address, shutting_down, terminated_retention):
        self.list = list_delay
        self.pending = pending
        self.address = address
        self.shutting_down = shutting_down
        self.terminated_retention = terminated_retention


class Subnets:
    """The subnets RunInstances accepts (any `subnet-…` when none are configured)."""

    def __init__(self, subnet_ids, region):
        self._ids = list(subnet_ids)
        self._region = region

    def zones(self):
        count = max(1, min(len(self._ids), 6))
        return [self._region + "abcdef"[i] for i in range(count)]

    def zone_of(self, subnet_id):
        if subnet_id is None:
            return self._region + "a"
        if subnet_id in self._ids:
            return self._region + "abcdef"[self._ids.index(subnet_id) % 6]
        return self._region + "a"

    def check(self, subnet_id):
        if subnet_id is None:
            return
        if (self._ids and subnet_id not in self._ids) or not re.fullmatch(r"subnet-[0-9a-z]{1,32}", subnet_id):
            raise ApiError("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")


class Instance:
    def __init__(self, **fields):
        self.__dict__.update(fields)
        self.terminated_at = None     # monotonic time of TerminateInstances
        self.server_stopped = threading.Event()

    def state(self, now):
        if self.terminated_at is not None:
            if now < self.terminated_at + self.delays.shutting_down or not self.server_stopped.is_set():
                return "shutting-down"
            return "terminated"
        return "pending" if now < self.created + self.delays.pending else "running"

    def visible(self, now):
        if now < self.created + self.delays.list:
            return False
        return not (self.state(now) == "terminated" and
                    now > self.terminated_at + self.delays.shutting_down + self.delays.terminated_retention)

    def private_ip(self, now):
        if now < self.created + self.delays.address or self.state(now) == "terminated":
            return None
        return self.address

    def describe(self, now):
        state = self.state(now)
        item = {"InstanceId": self.id, "ImageId": self.image_id, "InstanceType": self.instance_type,
                "State": {"Code": _STATE_CODES[state], "Name": state}, "LaunchTime": self.launch_time,
                "AmiLaunchIndex": self.launch_index, "Placement": {"AvailabilityZone": self.zone,
                                                                  "Tenancy": "default"},
                "Monitoring": {"State": "disabled"}, "Architecture": "x86_64", "RootDeviceType": "ebs",
                "RootDeviceName": "/dev/xvda", "Hypervisor": "xen", "VirtualizationType": "hvm",
                "ClientToken": self.client_token, "EbsOptimized": False,
                "StateTransitionReason": "", "PrivateDnsName": "", "PublicDnsName": ""}
        if state == "terminated":
            item["StateTransitionReason"] = "User initiated"
            item["StateReason"] = {"Code": "Client.UserInitiatedShutdown",
                                   "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
        if self.key_name:
            item["KeyName"] = self.key_name
        address = self.private_ip(now)
        if address:
            item["PrivateIpAddress"] = address
            item["PrivateDnsName"] = "ip-" + address.replace(".", "-") + ".ec2.internal"
        if state != "terminated":
            if self.subnet_id:
                item["SubnetId"] = self.subnet_id
                item["VpcId"] = VPC_ID
            item["SecurityGroups"] = [{"GroupId": g, "GroupName": g} for g in self.security_groups]
            item["BlockDeviceMappings"] = self.block_devices
        if self.tags:
            item["Tags"] = list(self.tags)
        if self.spot:
            item["InstanceLifecycle"] = "spot"
            item["SpotInstanceRequestId"] = self.spot_request_id
        if self.iam_profile:
            item["IamInstanceProfile"] = self.iam_profile
        item["MetadataOptions"] = dict(self.metadata_options, State="applied")
        return item


def _user_data(params):
    text = params.get("UserData")
    if text is None:
        return ""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("InvalidParameterValue", "Invalid BASE64 encoding of user data.")
    if len(data) > MAX_USER_DATA:
        raise ApiError("InvalidParameterValue", f"User data is limited to {MAX_USER_DATA} bytes")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ApiError("InvalidParameterValue", "User data is not UTF-8 text (the test endpoint runs it)")


def _network(params):
    """(subnet id, security group ids) from the request, checked like EC2 does."""
    interfaces = params.get("NetworkInterfaces") or []
    if interfaces:
        if params.get("SubnetId") or params.get("SecurityGroupIds") or params.get("SecurityGroups"):
            raise ApiError("InvalidParameterCombination", "Network interfaces and an instance-level subnet ID "
                           "or security groups may not be specified on the same request")
        if len(interfaces) != 1:
            raise ApiError("InvalidParameterValue", "the test endpoint supports one network interface")
        interface = interfaces[0]
        if interface.get("DeviceIndex") != 0:
            raise ApiError("InvalidParameterValue", "the network interface needs DeviceIndex 0")
        if interface.get("AssociatePublicIpAddress"):
            raise ApiError("InvalidParameterValue", "no public addresses in the test endpoint")
        return interface.get("SubnetId"), interface.get("Groups") or []
    return params.get("SubnetId"), params.get("SecurityGroupIds") or []


def _block_devices(params, launch_time):
    devices = []
    for i, mapping in enumerate(params.get("BlockDeviceMappings") or []):
        name = mapping.get("DeviceName")
        if not name or not re.fullmatch(r"/dev/[a-z0-9]{2,12}", name):
            raise ApiError("InvalidBlockDeviceMapping", f"Invalid device name {name!r}")
        ebs = mapping.get("Ebs")
        if ebs is not None:
            size = ebs.get("VolumeSize")
            if size is not None and not 1 <= size <= 16384:
                raise ApiError("InvalidParameterValue", f"Volume of {size} GiB is out of range 1..16384")
            devices.append({"DeviceName": name, "Ebs": {
                "AttachTime": launch_time, "DeleteOnTermination": ebs.get("DeleteOnTermination", True),
                "Status": "attached", "VolumeId": f"vol-{secrets.token_hex(8)}0"}})
    return devices


def _market(params, instance_type):
    options = params.get("InstanceMarketOptions")
    if not options:
        return False
    if options.get("MarketType") != "spot":
        raise ApiError("InvalidParameterValue", "InstanceMarketOptions.MarketType must be spot")
    spot = options.get("SpotOptions") or {}
    price = spot.get("MaxPrice")
    if price is not None:
        try:
            if float(price) <= 0:
                raise ValueError
        except ValueError:
            raise ApiError("InvalidParameterValue", f"Invalid max price {price!r} for {instance_type}")
    return True


class Instances:
    def __init__(self, delays, subnets, ssh_servers, key_pairs, state_dir, address_base, faults, counters):
        self._delays = delays
        self._subnets = subnets
        self._servers = ssh_servers
        self._key_pairs = key_pairs
        self._state_dir = state_dir
        self._faults = faults
        self._counters = counters
        self._lock = threading.Lock()
        self._instances = {}
        self._sequence = itertools.count(1)
        self._base = ipaddress.IPv4Address(address_base)
        self._next_host = itertools.count(1)
        self._client_tokens = {}

    def _allocate_address(self):
        while True:
            n = next(self._next_host)
            candidate = self._base + n
            if candidate not in ipaddress.IPv4Network("127.0.0.0/8"):
                raise ApiError("InsufficientFreeAddressesInSubnet", "the test endpoint ran out of addresses")
            if n % 256 not in (0, 255):
                return str(candidate)

    def _forget_expired(self, now):
        for instance_id in [i for i, inst in self._instances.items()
                            if inst.state(now) == "terminated" and not inst.visible(now)
                            and now > inst.created + inst.delays.list]:
            del self._instances[instance_id]

    def snapshot(self):
        now = time.monotonic()
        with self._lock:
            return [dict(inst.describe(now), Visible=inst.visible(now), SshServer=inst.server.describe())
                    for inst in self._instances.values()]

    # --- RunInstances ---------------------------------------------------

    def run_instances(self, params):
        min_count, max_count = params["MinCount"], params["MaxCount"]
        if not 1 <= min_count <= max_count <= MAX_COUNT:
            raise ApiError("InvalidParameterValue", f"MinCount ({min_count}) and MaxCount ({max_count}) must "
                           f"satisfy 1 <= MinCount <= MaxCount <= {MAX_COUNT}")
        image_id = params.get("ImageId")
        if image_id is None:
            raise ApiError("MissingParameter", "The request must contain the parameter ImageId")
        if not re.fullmatch(r"ami-[0-9a-z]{1,32}", image_id):
            raise ApiError("InvalidAMIID.Malformed", f"Invalid id: \"{image_id}\" (expecting \"ami-...\")")
        instance_type = params.get("InstanceType", "m1.small")
        if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9-]+", instance_type):
            raise ApiError("InvalidParameterValue", f"Invalid value '{instance_type}' for InstanceType.")
        subnet_id, groups = _network(params)
        self._counters.run_instances_in(subnet_id)
        self._subnets.check(subnet_id)
        for group in groups:
            if not re.fullmatch(r"sg-[0-9a-z]{1,32}", group):
                raise ApiError("InvalidGroup.NotFound", f"The security group '{group}' does not exist")
        key_name = params.get("KeyName")
        public_key = self._key_pairs.public_key(key_name) if key_name else ""
        init_command = _user_data(params)
        tags = tags_for(params.get("TagSpecifications"), "instance")
        spot = _market(params, instance_type)
        profile = params.get("IamInstanceProfile")
        iam_profile = None
        if profile:
            name = profile.get("Name") or (profile.get("Arn") or "").rsplit("/", 1)[-1]
            if not re.fullmatch(r"[\w+=,.@-]{1,128}", name):
                raise ApiError("InvalidParameterValue", f"Value ({name}) for parameter iamInstanceProfile.name "
                               "is invalid. Invalid IAM Instance Profile name")
            iam_profile = {"Arn": f"arn:aws:iam::{OWNER_ID}:instance-profile/{name}",
                           "Id": "AIPA" + secrets.token_hex(8).upper()}
        metadata = params.get("MetadataOptions") or {}
        metadata_options = {"HttpTokens": metadata.get("HttpTokens", "optional"),
                            "HttpPutResponseHopLimit": metadata.get("HttpPutResponseHopLimit", 1),
                            "HttpEndpoint": metadata.get("HttpEndpoint", "enabled")}
        self._faults.take("RunInstances", subnet_id, instance_type)
        client_token = params.get("ClientToken") or secrets.token_hex(16)
        launch_time = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        with self._lock:
            if client_token in self._client_tokens:
                return self._reservation(self._client_tokens[client_token])
            now = time.monotonic()
            self._forget_expired(now)
            alive = sum(1 for i in self._instances.values() if i.state(now) != "terminated")
            if alive + min_count > MAX_INSTANCES:
                raise ApiError("InstanceLimitExceeded", f"the test endpoint runs at most {MAX_INSTANCES}")
            reservation_id = f"r-{secrets.token_hex(8)}0"
            launched = []
            for index in range(max_count):
                instance_id = f"i-{secrets.token_hex(8)}0"
                address = self._allocate_address()
                instance = Instance(
                    id=instance_id, sequence=next(self._sequence), reservation_id=reservation_id,
                    image_id=image_id, instance_type=instance_type, key_name=key_name, subnet_id=subnet_id,
                    zone=self._subnets.zone_of(subnet_id), security_groups=list(groups), tags=list(tags),
                    spot=spot, spot_request_id=f"sir-{secrets.token_hex(4)}" if spot else None,
                    iam_profile=iam_profile, metadata_options=metadata_options,
                    block_devices=_block_devices(params, launch_time), launch_time=launch_time,
                    launch_index=index, client_token=client_token, address=address, created=now,
                    delays=self._delays)
                instance.server = self._servers.start(os.path.join(self._state_dir, "instances", instance_id),
                                                      address, public_key, init_command)
                self._instances[instance_id] = instance
                launched.append(instance)
            self._client_tokens[client_token] = launched
            return self._reservation(launched)

    def _reservation(self, launched):
        now = time.monotonic()
        first = launched[0]
        return {"ReservationId": first.reservation_id, "OwnerId": OWNER_ID,
                "Groups": [], "Instances": [i.describe(now) for i in launched]}

    # --- DescribeInstances / DescribeInstanceStatus --------------------

    def _attributes(self, inst, now):
        def values(name):
            if name.startswith("tag:"):
                return [t["Value"] for t in inst.tags if t["Key"] == name[4:]]
            state = inst.state(now)
            return {"instance-id": [inst.id], "instance-type": [inst.instance_type],
                    "instance-state-name": [state], "instance-state-code": [str(_STATE_CODES[state])],
                    "tag-key": [t["Key"] for t in inst.tags], "tag-value": [t["Value"] for t in inst.tags],
                    "subnet-id": [inst.subnet_id] if inst.subnet_id else [],
                    "private-ip-address": [inst.private_ip(now)] if inst.private_ip(now) else [],
                    "image-id": [inst.image_id], "key-name": [inst.key_name] if inst.key_name else [],
                    "availability-zone": [inst.zone], "instance-lifecycle": ["spot"] if inst.spot else [],
                    "reservation-id": [inst.reservation_id], "vpc-id": [VPC_ID] if inst.subnet_id else [],
                    "iam-instance-profile.arn": [inst.iam_profile["Arn"]] if inst.iam_profile else []}[name]
        return values

    def _select(self, params, known_filters, now):
        """The visible instances the request's InstanceIds and Filters select."""
        ids = params.get("InstanceIds") or []
        if ids and params.get("MaxResults") is not None:
            raise ApiError("InvalidParameterCombination", "The parameter instancesSet cannot be used with "
                           "the parameter maxResults")
        for instance_id in ids:
            if not _INSTANCE_ID.fullmatch(instance_id):
                raise ApiError("InvalidInstanceID.Malformed", f"Invalid id: \"{instance_id}\"")
        compiled = listing.compile_filters(params.get("Filters"), known_filters)
        with self._lock:
            self._forget_expired(now)
            visible = [i for i in self._instances.values() if i.visible(now)]
        missing = [i for i in ids if i not in {inst.id for inst in visible}]
        if missing:
            raise ApiError("InvalidInstanceID.NotFound",
                           f"The instance ID{'s' if len(missing) > 1 else ''} '{', '.join(missing)}' "
                           f"do{'' if len(missing) > 1 else 'es'} not exist")
        return [i for i in visible if (not ids or i.id in ids) and listing.matches(compiled, self._attributes(i, now))]

    def describe_instances(self, params, page_size):
        now = time.monotonic()
        selected = self._select(params, _FILTERS, now)
        self._faults.take("DescribeInstances")
        chunk, token = listing.page(selected, lambda i: i.sequence, params, page_size)
        reservations = []
        for inst in chunk:
            if reservations and reservations[-1]["ReservationId"] == inst.reservation_id:
                reservations[-1]["Instances"].append(inst.describe(now))
            else:
                reservations.append({"ReservationId": inst.reservation_id, "OwnerId": OWNER_ID, "Groups": [],
                                     "Instances": [inst.describe(now)]})
        result = {"Reservations": reservations}
        if token:
            result["NextToken"] = token
        return result

    def describe_instance_status(self, params, page_size):
        now = time.monotonic()
        selected = self._select(params, _STATUS_FILTERS, now)
        self._faults.take("DescribeInstanceStatus")
        if not params.get("IncludeAllInstances"):
            selected = [i for i in selected if i.state(now) == "running"]
        chunk, token = listing.page(selected, lambda i: i.sequence, params, page_size)
        statuses = []
        for inst in chunk:
            state = inst.state(now)
            status = {"InstanceId": inst.id, "AvailabilityZone": inst.zone,
                      "InstanceState": {"Code": _STATE_CODES[state], "Name": state}}
            if state == "running":
                status["InstanceStatus"] = {"Status": "ok"}
                status["SystemStatus"] = {"Status": "ok"}
            else:
                status["InstanceStatus"] = {"Status": "not-applicable"}
                status["SystemStatus"] = {"Status": "not-applicable"}
            statuses.append(status)
        result = {"InstanceStatuses": statuses}
        if token:
            result["NextToken"] = token
        return result

    # --- CreateTags / TerminateInstances --------------------------------

    def _existing(self, instance_ids):
        """Instances by id, also those not listed yet (EC2 knows them by id)."""
        found = []
        for instance_id in instance_ids:
            if not _INSTANCE_ID.fullmatch(instance_id):
                raise ApiError("InvalidInstanceID.Malformed", f"Invalid id: \"{instance_id}\"")
            instance = self._instances.get(instance_id)
            if instance is None:
                raise ApiError("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
            found.append(instance)
        return found

    def create_tags(self, params):
        tags = check_tags(params["Tags"])
        self._faults.take("CreateTags")
        with self._lock:
            instances = self._existing(params["Resources"])
            for inst in instances:
                merged = {t["Key"]: t["Value"] for t in inst.tags}
                merged.update({t["Key"]: t["Value"] for t in tags})
                check_tags([{"Key": k, "Value": v} for k, v in merged.items()])
            for inst in instances:
                by_key = {t["Key"]: t for t in inst.tags}
                for tag in tags:
                    if tag["Key"] in by_key:
                        by_key[tag["Key"]]["Value"] = tag["Value"]
                    else:
                        inst.tags.append(dict(tag))
                        by_key[tag["Key"]] = inst.tags[-1]
        return {}

    def terminate_instances(self, params):
        self._faults.take("TerminateInstances")
        now = time.monotonic()
        changes = []
        with self._lock:
            instances = self._existing(params["InstanceIds"])
            for inst in instances:
                previous = inst.state(now)
                if inst.terminated_at is None:
                    inst.terminated_at = now
                    threading.Thread(target=self._stop_server, args=(inst,), daemon=True).start()
                current = inst.state(now)
                changes.append({"InstanceId": inst.id,
                                "CurrentState": {"Code": _STATE_CODES[current], "Name": current},
                                "PreviousState": {"Code": _STATE_CODES[previous], "Name": previous}})
        return {"TerminatingInstances": changes}

    def _stop_server(self, inst):
        try:
            self._servers.stop(inst.server)
        finally:
            inst.server_stopped.set()
