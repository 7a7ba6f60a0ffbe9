#!/usr/bin/python3
"""The EC2 test endpoint checked with the real SDK (Debian's botocore): a
botocore EC2 client drives every action, raw signed requests probe the
signature and parameter checks, and every response the endpoint sent is
parsed with botocore's EC2QueryParser and compared with what it meant."""

import base64
import datetime
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import warnings

import botocore.exceptions
import botocore.parsers
import botocore.session

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "endpoint"))
import harness  # noqa: E402
from ec2endpoint import ssh_servers  # noqa: E402

# Short delays so the life of an instance fits in a test; POLL_LIMIT bounds every wait.
DELAYS = ["--list-delay", "0.4", "--pending-delay", "0.8", "--address-delay", "0.6",
          "--shutting-down-delay", "0.5", "--terminated-retention", "1.5"]
CREDENTIAL_LIFETIME = 2.0
POLL_LIMIT = 30.0
SUBNETS = ["subnet-0aaa", "subnet-0bbb"]
ENDPOINT = None
WORK = None
KEY = None   # (private key path, public key text)


def wait_for(predicate, what, limit=POLL_LIMIT):
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def make_key(name, kind="ed25519"):
    path = os.path.join(WORK, name)
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", path] + (["-b", "2048"] if kind == "rsa" else []),
                   check=True)
    with open(path + ".pub") as f:
        return path, f.read()


def ssh(private_key, address, port, command):
    return subprocess.run(["ssh", "-i", private_key, "-p", str(port), "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"test@{address}", command],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setUpModule():
    global ENDPOINT, WORK, KEY
    warnings.simplefilter("ignore", ResourceWarning)  # botocore keeps its connections in a pool
    WORK = tempfile.mkdtemp(prefix="ec2-endpoint-test-")
    KEY = make_key("id_ed25519")
    args = DELAYS + ["--credential-lifetime", str(CREDENTIAL_LIFETIME), "--ssh-port", str(free_port())]
    for subnet in SUBNETS:
        args += ["--subnet", subnet]
    ENDPOINT = harness.Endpoint(os.path.join(WORK, "endpoint"), *args)


def tearDownModule():
    status = ENDPOINT.stop()
    shutil.rmtree(WORK, ignore_errors=True)
    if status != 0:
        raise AssertionError(f"the endpoint exited with status {status}: {ENDPOINT.log()}")


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded")


def run_one(client, subnet=SUBNETS[0], tags=None, **extra):
    params = dict(ImageId="ami-0123456789abcdef0", InstanceType="m5.large", MinCount=1, MaxCount=1,
                  NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": ["sg-0123"],
                                      "AssociatePublicIpAddress": False, "DeleteOnTermination": True}],
                  TagSpecifications=[{"ResourceType": "instance",
                                      "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}])
    params.update(extra)
    return client.run_instances(**params)["Instances"][0]


def listed(client, **kwargs):
    """Every instance DescribeInstances lists, following NextToken."""
    instances, token, pages = [], None, 0
    while True:
        page = client.describe_instances(**kwargs, **({"NextToken": token} if token else {}))
        pages += 1
        for reservation in page["Reservations"]:
            instances += reservation["Instances"]
        token = page.get("NextToken")
        if not token:
            return instances, pages
        if pages > 1000:
            raise AssertionError("NextToken never ends")


class KeyPairs(unittest.TestCase):
    def test_ed25519_fingerprint_is_padded_base64_sha256_of_the_blob(self):
        client = ENDPOINT.client()
        _, public = make_key("kp_ed")
        result = client.import_key_pair(KeyName="kp-ed", PublicKeyMaterial=public.encode())
        blob = base64.b64decode(public.split()[1])
        self.assertEqual(result["KeyFingerprint"], base64.b64encode(hashlib.sha256(blob).digest()).decode())
        self.assertTrue(result["KeyFingerprint"].endswith("="))
        self.assertTrue(result["KeyPairId"].startswith("key-"))

    def test_rsa_fingerprint_is_md5_of_the_der_public_key(self):
        client = ENDPOINT.client()
        path, public = make_key("kp_rsa", "rsa")
        result = client.import_key_pair(KeyName="kp-rsa", PublicKeyMaterial=public.encode())
        # Independently: ssh-keygen -> PKCS8 PEM -> openssl DER -> MD5.
        pem = subprocess.run(["ssh-keygen", "-e", "-m", "PKCS8", "-f", path + ".pub"], check=True,
                             capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem, check=True,
                             capture_output=True).stdout
        digest = hashlib.md5(der).hexdigest()
        self.assertEqual(result["KeyFingerprint"], ":".join(digest[i:i + 2] for i in range(0, 32, 2)))

    def test_duplicate_unknown_and_bad_keys_are_typed_errors(self):
        client = ENDPOINT.client()
        _, public = make_key("kp_dup")
        client.import_key_pair(KeyName="kp-dup", PublicKeyMaterial=public.encode())
        self.assertEqual(error_code(lambda: client.import_key_pair(KeyName="kp-dup", PublicKeyMaterial=public.encode())),
                         ("InvalidKeyPair.Duplicate", 400))
        self.assertEqual(error_code(lambda: client.describe_key_pairs(KeyNames=["kp-none"])),
                         ("InvalidKeyPair.NotFound", 400))
        for material in (b"not a key", b"ssh-ed25519 AAAA", "ssh-ed25519 ü".encode()):
            self.assertEqual(error_code(lambda: client.import_key_pair(KeyName="kp-bad", PublicKeyMaterial=material)),
                             ("InvalidKey.Format", 400))

    def test_describe_filters_by_name_and_fingerprint(self):
        client = ENDPOINT.client()
        _, public = make_key("kp_filter")
        fingerprint = client.import_key_pair(KeyName="kp-filter", PublicKeyMaterial=public.encode())["KeyFingerprint"]
        by_name = client.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["kp-filter"]}])["KeyPairs"]
        self.assertEqual([(k["KeyName"], k["KeyFingerprint"], k["KeyType"]) for k in by_name],
                         [("kp-filter", fingerprint, "ed25519")])
        self.assertNotIn("PublicKey", by_name[0])
        by_print = client.describe_key_pairs(Filters=[{"Name": "fingerprint", "Values": [fingerprint]}],
                                             IncludePublicKey=True)["KeyPairs"]
        self.assertEqual([k["KeyName"] for k in by_print], ["kp-filter"])
        self.assertEqual(by_print[0]["PublicKey"], " ".join(public.split()[:2]))
        wildcard = client.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["kp-fil*"]}])["KeyPairs"]
        self.assertEqual([k["KeyName"] for k in wildcard], ["kp-filter"])
        self.assertEqual(client.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["nope"]}])["KeyPairs"], [])
        self.assertEqual(error_code(lambda: client.describe_key_pairs(Filters=[{"Name": "colour", "Values": ["x"]}])),
                         ("InvalidParameterValue", 400))


class Lifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = ENDPOINT.client()
        cls.client.import_key_pair(KeyName="life", PublicKeyMaterial=KEY[1].encode())

    def test_an_instance_lives_like_an_ec2_vm_and_is_a_real_ssh_server(self):
        c = self.client
        started = run_one(c, tags={"Name": "life", "cloudhost-test": "lifecycle"}, KeyName="life",
                          UserData="#!/bin/sh\necho booted-from-user-data > booted\n",
                          MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
                          BlockDeviceMappings=[{"DeviceName": "/dev/xvdt", "Ebs": {
                              "VolumeSize": 3, "VolumeType": "gp2", "DeleteOnTermination": True}}],
                          InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {
                              "MaxPrice": "0.25", "InstanceInterruptionBehavior": "terminate"}},
                          IamInstanceProfile={"Name": "test-profile"},
                          DisableApiTermination=False, InstanceInitiatedShutdownBehavior="terminate")
        instance_id = started["InstanceId"]
        self.assertEqual(started["State"]["Name"], "pending")
        self.assertNotIn("PrivateIpAddress", started)
        # Eventual consistency: not listed at first, and unknown by id.
        tag_filter = [{"Name": "tag:cloudhost-test", "Values": ["lifecycle"]}]
        self.assertEqual(listed(c, Filters=tag_filter)[0], [])
        self.assertEqual(error_code(lambda: c.describe_instances(InstanceIds=[instance_id])),
                         ("InvalidInstanceID.NotFound", 400))
        seen = wait_for(lambda: listed(c, Filters=tag_filter)[0], "the instance to be listed")
        self.assertEqual([i["InstanceId"] for i in seen], [instance_id])
        running = wait_for(lambda: [i for i in listed(c, Filters=tag_filter)[0]
                                    if i["State"]["Name"] == "running" and i.get("PrivateIpAddress")],
                           "running with an address")[0]
        self.assertEqual(running["SubnetId"], SUBNETS[0])
        self.assertEqual(running["Placement"]["AvailabilityZone"], "us-east-1a")
        self.assertEqual({t["Key"]: t["Value"] for t in running["Tags"]}, {"Name": "life", "cloudhost-test": "lifecycle"})
        self.assertEqual(running["MetadataOptions"]["HttpTokens"], "required")
        self.assertEqual(running["InstanceLifecycle"], "spot")
        self.assertTrue(running["IamInstanceProfile"]["Arn"].endswith(":instance-profile/test-profile"))
        self.assertEqual(running["BlockDeviceMappings"][0]["DeviceName"], "/dev/xvdt")
        self.assertEqual(running["KeyName"], "life")
        address = running["PrivateIpAddress"]
        self.assertTrue(address.startswith("127.") and address != "127.0.0.1", address)

        # The address is a real SSH server that ran the UserData and takes the key pair's key.
        result = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
            ssh(KEY[0], address, ENDPOINT.ready["ssh_port"], "cat booted")), "SSH on the private address")
        self.assertEqual(result.stdout, "booted-from-user-data\n")
        other_key, _ = make_key("stranger")
        self.assertNotEqual(ssh(other_key, address, ENDPOINT.ready["ssh_port"], "true").returncode, 0)

        # CreateTags adds and overwrites.
        c.create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": "renamed"}, {"Key": "extra", "Value": ""}])
        tags = {t["Key"]: t["Value"] for t in listed(c, InstanceIds=[instance_id])[0][0]["Tags"]}
        self.assertEqual(tags, {"Name": "renamed", "cloudhost-test": "lifecycle", "extra": ""})

        server_pid = next(i for i in ENDPOINT.control("GET", "/instances")[1]
                          if i["InstanceId"] == instance_id)["SshServer"]["pid"]
        self.assertTrue(ssh_servers.session_members(server_pid))
        change = c.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"][0]
        self.assertEqual((change["PreviousState"]["Name"], change["CurrentState"]["Name"]), ("running", "shutting-down"))
        wait_for(lambda: listed(c, InstanceIds=[instance_id])[0][0]["State"]["Name"] == "terminated", "terminated")
        self.assertEqual(ssh_servers.session_members(server_pid), [])
        self.assertNotEqual(ssh(KEY[0], address, ENDPOINT.ready["ssh_port"], "true").returncode, 0)
        # Listed as terminated for a while, then gone.
        wait_for(lambda: listed(c, Filters=tag_filter)[0] == [], "the terminated instance to drop out")

    def test_state_filters_and_instance_status(self):
        c = self.client
        instance_id = run_one(c, tags={"cloudhost-test": "status"})["InstanceId"]
        wait_for(lambda: listed(c, Filters=[{"Name": "instance-state-name", "Values": ["running"]},
                                            {"Name": "tag:cloudhost-test", "Values": ["status"]}])[0], "running")
        status = c.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)["InstanceStatuses"]
        self.assertEqual([(s["InstanceId"], s["AvailabilityZone"], s["InstanceState"]["Name"]) for s in status],
                         [(instance_id, "us-east-1a", "running")])
        c.terminate_instances(InstanceIds=[instance_id])
        self.assertEqual(listed(c, Filters=[{"Name": "instance-state-name", "Values": ["running"]},
                                            {"Name": "tag:cloudhost-test", "Values": ["status"]}])[0], [])
        self.assertEqual(c.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"], [])
        self.assertEqual(error_code(lambda: c.describe_instance_status(InstanceIds=["i-0123456789abcdef0"])),
                         ("InvalidInstanceID.NotFound", 400))

    def test_pagination_has_small_pages_and_no_duplicates(self):
        c = self.client
        ids = {c.run_instances(ImageId="ami-1", InstanceType="t3.small", MinCount=1, MaxCount=1,
                               TagSpecifications=[{"ResourceType": "instance",
                                                   "Tags": [{"Key": "cloudhost-test", "Value": "pages"}]}])
               ["Instances"][0]["InstanceId"] for _ in range(5)}
        tag_filter = [{"Name": "tag:cloudhost-test", "Values": ["pages"]}]
        wait_for(lambda: len(listed(c, Filters=tag_filter)[0]) == 5, "five listed")
        instances, pages = listed(c, Filters=tag_filter, MaxResults=5)
        self.assertEqual(sorted(i["InstanceId"] for i in instances), sorted(ids))
        self.assertEqual(pages, 3)  # the endpoint's page size is 2
        paginated = [i["InstanceId"] for page in c.get_paginator("describe_instances").paginate(Filters=tag_filter)
                     for r in page["Reservations"] for i in r["Instances"]]
        self.assertEqual(sorted(paginated), sorted(ids))
        self.assertEqual(error_code(lambda: c.describe_instances(NextToken="bogus")), ("InvalidParameterValue", 400))
        self.assertEqual(error_code(lambda: c.describe_instances(MaxResults=2)), ("InvalidParameterValue", 400))
        c.terminate_instances(InstanceIds=sorted(ids))

    def test_instance_errors_are_typed(self):
        c = self.client
        self.assertEqual(error_code(lambda: run_one(c, subnet="subnet-0zzz")), ("InvalidSubnetID.NotFound", 400))
        self.assertEqual(error_code(lambda: run_one(c, KeyName="no-such-key")), ("InvalidKeyPair.NotFound", 400))
        self.assertEqual(error_code(lambda: run_one(c, SubnetId=SUBNETS[0])), ("InvalidParameterCombination", 400))
        self.assertEqual(error_code(lambda: c.terminate_instances(InstanceIds=["i-0123456789abcdef0"])),
                         ("InvalidInstanceID.NotFound", 400))
        self.assertEqual(error_code(lambda: c.create_tags(Resources=["i-0123456789abcdef0"],
                                                          Tags=[{"Key": "a", "Value": "b"}])),
                         ("InvalidInstanceID.NotFound", 400))
        self.assertEqual(error_code(lambda: c.describe_instances(InstanceIds=["x-1"])), ("InvalidInstanceID.Malformed", 400))
        self.assertEqual(error_code(lambda: run_one(c, tags={"aws:reserved": "x"})), ("InvalidParameterValue", 400))
        self.assertEqual(error_code(lambda: run_one(c, DryRun=True)), ("DryRunOperation", 412))

    def test_spot_price_history_pages_and_filters(self):
        c = self.client
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
        prices = [p for page in c.get_paginator("describe_spot_price_history").paginate(
            StartTime=start, InstanceTypes=["m5.large"], ProductDescriptions=["Linux/UNIX"]) for p in page["SpotPriceHistory"]]
        self.assertGreater(len(prices), 8)
        self.assertEqual({p["InstanceType"] for p in prices}, {"m5.large"})
        self.assertEqual({p["AvailabilityZone"] for p in prices}, {"us-east-1a", "us-east-1b"})
        self.assertTrue(all(p["Timestamp"] >= start and float(p["SpotPrice"]) > 0 for p in prices))
        status, _ = ENDPOINT.control("POST", "/spot-prices", [
            {"instance_type": "m5.large", "availability_zone": "us-east-1b", "price": 0.125,
             "timestamp": (start + datetime.timedelta(hours=1)).isoformat()}])
        self.assertEqual(status, 200)
        table = c.describe_spot_price_history(StartTime=start, InstanceTypes=["m5.large"],
                                              Filters=[{"Name": "availability-zone", "Values": ["us-east-1b"]}])
        self.assertEqual([(p["SpotPrice"], p["AvailabilityZone"]) for p in table["SpotPriceHistory"]],
                         [("0.125000", "us-east-1b")])
        self.assertEqual(ENDPOINT.control("POST", "/spot-prices", [{"price": 1}])[0], 400)
        self.assertEqual(error_code(lambda: c.describe_spot_price_history(
            StartTime=start, EndTime=start - datetime.timedelta(hours=1))), ("InvalidParameterValue", 400))


class Faults(unittest.TestCase):
    CODES = {"RequestLimitExceeded": 503, "Throttling": 400, "InstanceLimitExceeded": 400,
             "InsufficientFreeAddressesInSubnet": 400, "MaxSpotInstanceCountExceeded": 400,
             "VcpuLimitExceeded": 400, "InsufficientInstanceCapacity": 500, "InvalidSubnetID.NotFound": 400}

    def test_every_fault_code_reaches_the_sdk_typed_and_then_clears(self):
        c = ENDPOINT.client()
        for code, status in self.CODES.items():
            with self.subTest(code=code):
                self.assertEqual(ENDPOINT.control("POST", "/faults", {"action": "RunInstances", "code": code})[0], 200)
                self.assertEqual(error_code(lambda: run_one(c, tags={"cloudhost-test": "faults"})), (code, status))
                instance = run_one(c, tags={"cloudhost-test": "faults"})
                c.terminate_instances(InstanceIds=[instance["InstanceId"]])
        self.assertEqual({k: v for k, v in ENDPOINT.counters()["faults_injected"].items() if k.startswith("RunInstances:")},
                         {f"RunInstances:{code}": 1 for code in self.CODES})

    def test_count_subnet_and_action_scoping(self):
        c = ENDPOINT.client()
        ENDPOINT.control("POST", "/faults", [{"action": "RunInstances", "code": "InsufficientInstanceCapacity",
                                              "subnet": SUBNETS[0], "count": 2}])
        before = ENDPOINT.counters()["run_instances_by_subnet"]
        for _ in range(2):
            self.assertEqual(error_code(lambda: run_one(c, subnet=SUBNETS[0]))[0], "InsufficientInstanceCapacity")
        other = run_one(c, subnet=SUBNETS[1])   # the other subnet is fine
        self.assertEqual(other["Placement"]["AvailabilityZone"], "us-east-1b")
        again = run_one(c, subnet=SUBNETS[0])   # the count is used up
        c.terminate_instances(InstanceIds=[other["InstanceId"], again["InstanceId"]])
        after = ENDPOINT.counters()["run_instances_by_subnet"]
        self.assertEqual(after[SUBNETS[0]] - before.get(SUBNETS[0], 0), 3)
        self.assertEqual(after[SUBNETS[1]] - before.get(SUBNETS[1], 0), 1)
        ENDPOINT.control("POST", "/faults", {"action": "DescribeInstances", "code": "RequestLimitExceeded", "count": -1})
        for _ in range(3):
            self.assertEqual(error_code(lambda: c.describe_instances()), ("RequestLimitExceeded", 503))
        run_one(c, tags={"cloudhost-test": "scoped"})  # other actions are not affected
        self.assertEqual(ENDPOINT.control("DELETE", "/faults")[0], 200)
        c.describe_instances()
        self.assertEqual(ENDPOINT.control("GET", "/faults")[1], [])

    def test_counters_count_every_request_and_reset(self):
        c = ENDPOINT.client()
        ENDPOINT.control("POST", "/counters/reset")
        self.assertEqual(ENDPOINT.counters()["actions"], {})
        ENDPOINT.control("POST", "/faults", {"action": "DescribeKeyPairs", "code": "Throttling"})
        self.assertEqual(error_code(lambda: c.describe_key_pairs())[0], "Throttling")
        c.describe_key_pairs()
        c.describe_spot_price_history(InstanceTypes=["m5.large"])
        self.assertEqual(ENDPOINT.counters()["actions"], {"DescribeKeyPairs": 2, "DescribeSpotPriceHistory": 1})

    def test_bad_fault_specs_are_refused_with_the_field(self):
        for spec, field in (({"code": ""}, "code"), ({"code": "X", "count": 0}, "count"),
                            ({"code": "X", "colour": 1}, "colour"), ({"code": "X", "status": 200}, "status")):
            status, body = ENDPOINT.control("POST", "/faults", spec)
            self.assertEqual(status, 400)
            self.assertIn(field, body["error"])


class Signatures(unittest.TestCase):
    PARAMS = {"Action": "DescribeKeyPairs", "Version": "2016-11-15"}

    def test_good_raw_request_passes(self):
        status, body = ENDPOINT.raw(self.PARAMS)
        self.assertEqual(status, 200, body)

    def test_every_bad_signature_is_refused_and_counted(self):
        before = ENDPOINT.counters()["auth_failures"]
        old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
        cases = [
            (dict(secret="wrong-secret"), "SignatureDoesNotMatch", 403),
            (dict(access_key_id="AKIDUNKNOWN000000000"), "AuthFailure", 401),
            (dict(sign=False), "AuthFailure", 401),
            (dict(amz_date=old), "RequestExpired", 400),
            (dict(tamper=lambda body: body.replace(b"DescribeKeyPairs", b"DescribeKeyPairz")), "SignatureDoesNotMatch", 403),
            # Signed over a payload hash that is not the body's.
            (dict(headers={"X-Amz-Content-SHA256": hashlib.sha256(b"another body").hexdigest()}),
             "XAmzContentSHA256Mismatch", 400),
        ]
        for kwargs, code, status in cases:
            with self.subTest(code=code, kwargs=str(kwargs)):
                got_status, body = ENDPOINT.raw(self.PARAMS, **kwargs)
                self.assertEqual((got_status, harness.parse_error(got_status, body)[0]), (status, code))
        self.assertEqual(ENDPOINT.counters()["auth_failures"] - before, len(cases))


class Validation(unittest.TestCase):
    RUN = {"Action": "RunInstances", "Version": "2016-11-15", "ImageId": "ami-1", "InstanceType": "m5.large",
           "MinCount": "1", "MaxCount": "1", "DryRun": "true"}

    def test_sdk_serialized_request_passes(self):
        status, body = ENDPOINT.raw(dict(self.RUN, **{"TagSpecification.1.ResourceType": "instance",
                                                       "TagSpecification.1.Tag.1.Key": "k",
                                                       "TagSpecification.1.Tag.1.Value": "v",
                                                       "NetworkInterface.1.DeviceIndex": "0",
                                                       "NetworkInterface.1.SecurityGroupId.1": "sg-1",
                                                       "NetworkInterface.1.SubnetId": SUBNETS[0]}))
        self.assertEqual((status, harness.parse_error(status, body)[0]), (412, "DryRunOperation"))

    def test_every_malformed_parameter_is_refused_and_counted(self):
        before = ENDPOINT.counters()["validation_failures"]
        cases = [
            ({"Foo": "1"}, "UnknownParameter"),
            ({"MinCount": "abc"}, "InvalidParameterValue"),
            ({"MinCount": "1.5"}, "InvalidParameterValue"),
            ({"MinCount": None}, "MissingParameter"),
            ({"TagSpecification.1.Tag.1.Kee": "x"}, "UnknownParameter"),
            ({"TagSpecifications.1.ResourceType": "instance"}, "UnknownParameter"),   # member name, not locationName
            ({"TagSpecification.2.ResourceType": "instance"}, "InvalidParameterValue"),   # no .1
            ({"TagSpecification.0.ResourceType": "instance"}, "UnknownParameter"),
            ({"TagSpecification": "instance"}, "InvalidParameterValue"),
            ({"SecurityGroupId": "sg-1"}, "InvalidParameterValue"),   # a list without .N
            ({"DryRun": "True"}, "InvalidParameterValue"),
            ({"MetadataOptions.HttpTokens": "maybe"}, "InvalidParameterValue"),   # not in the enum
            ({"InstanceType": "m5.nonsense"}, "InvalidParameterValue"),   # not in the enum either
            ({"MetadataOptions.HttpTokens.1": "required"}, "UnknownParameter"),
            ({"Version": "2014-09-01"}, "InvalidParameterValue"),
            ({"Action": "RebootInstances"}, "InvalidAction"),
        ]
        for change, code in cases:
            with self.subTest(change=change):
                params = dict(self.RUN, **change)
                params = {k: v for k, v in params.items() if v is not None}
                status, body = ENDPOINT.raw(params)
                self.assertEqual((status, harness.parse_error(status, body)[0]), (400, code))
        self.assertEqual(ENDPOINT.counters()["validation_failures"] - before, len(cases))


class InstanceMetadataCredentials(unittest.TestCase):
    def imds(self, method, path, headers):
        request = urllib.request.Request(ENDPOINT.ready["imds_url"] + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    def role_credentials(self):
        status, token = self.imds("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        self.assertEqual(status, 200)
        status, role = self.imds("GET", "/latest/meta-data/iam/security-credentials/", {"X-aws-ec2-metadata-token": token})
        self.assertEqual((status, role), (200, ENDPOINT.ready["role_name"]))
        status, body = self.imds("GET", "/latest/meta-data/iam/security-credentials/" + role,
                                 {"X-aws-ec2-metadata-token": token})
        self.assertEqual(status, 200)
        return json.loads(body)

    def test_imdsv2_needs_a_token(self):
        self.assertEqual(self.imds("PUT", "/latest/api/token", {})[0], 400)
        self.assertEqual(self.imds("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "0"})[0], 400)
        self.assertEqual(self.imds("GET", "/latest/meta-data/iam/security-credentials/", {})[0], 401)
        self.assertEqual(self.imds("GET", "/latest/meta-data/iam/security-credentials/",
                                   {"X-aws-ec2-metadata-token": "forged"})[0], 401)

    def test_rotating_credentials_are_accepted_while_current_or_previous(self):
        first = self.role_credentials()
        self.assertEqual(first["Code"], "Success")
        expiration = datetime.datetime.fromisoformat(first["Expiration"].replace("Z", "+00:00"))
        self.assertLessEqual(expiration - datetime.datetime.now(datetime.timezone.utc),
                             datetime.timedelta(seconds=CREDENTIAL_LIFETIME + 1))
        with_first = ENDPOINT.client(first["AccessKeyId"], first["SecretAccessKey"], first["Token"])
        with_first.describe_key_pairs()
        # Without the session token the key is not accepted.
        self.assertEqual(error_code(lambda: ENDPOINT.client(first["AccessKeyId"], first["SecretAccessKey"])
                                    .describe_key_pairs())[0], "AuthFailure")
        second = wait_for(lambda: (lambda c: c if c["AccessKeyId"] != first["AccessKeyId"] else None)(
            self.role_credentials()), "the credentials to rotate")
        with_first.describe_key_pairs()   # previous: still accepted
        ENDPOINT.client(second["AccessKeyId"], second["SecretAccessKey"], second["Token"]).describe_key_pairs()
        wait_for(lambda: self.role_credentials()["AccessKeyId"] not in (first["AccessKeyId"], second["AccessKeyId"]),
                 "a second rotation")
        self.assertEqual(error_code(lambda: with_first.describe_key_pairs())[0], "AuthFailure")


class Shutdown(unittest.TestCase):
    """The endpoint's exit leaves no process behind (a separate endpoint)."""

    def start_two_instances(self, endpoint):
        c = endpoint.client()
        c.import_key_pair(KeyName="k", PublicKeyMaterial=KEY[1].encode())
        pids = []
        for _ in range(2):
            # The init command leaves a background process in the instance's session.
            run_one(c, subnet="subnet-0abc", KeyName="k", UserData="#!/bin/sh\n(sleep 300 &)\necho ok > booted\n")
        wait_for(lambda: all(i["SshServer"]["listening"] for i in endpoint.control("GET", "/instances")[1]),
                 "both servers up")
        for instance in endpoint.control("GET", "/instances")[1]:
            pids.append(instance["SshServer"]["pid"])
            wait_for(lambda: len(ssh_servers.session_members(pids[-1])) >= 2, "the background process")
        return pids

    def assert_nothing_left(self, endpoint, pids):
        for pid in pids:
            self.assertEqual(ssh_servers.session_members(pid), [])
        self.assertFalse(os.path.exists(endpoint.ready_file))
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    cwd = os.readlink(f"/proc/{entry}/cwd")
                except OSError:
                    continue
                self.assertFalse(cwd.startswith(endpoint.state_dir), f"process {entry} left in {cwd}")

    def test_sigterm_stops_every_server_and_its_processes(self):
        endpoint = harness.Endpoint(os.path.join(WORK, "shutdown"), "--ssh-port", str(free_port()),
                                    "--list-delay", "0", "--pending-delay", "0", "--address-delay", "0")
        try:
            pids = self.start_two_instances(endpoint)
        finally:
            status = endpoint.stop()
        self.assertEqual(status, 0, endpoint.log())
        self.assert_nothing_left(endpoint, pids)

    def test_death_of_the_parent_stops_everything(self):
        # The endpoint's parent is a shell we kill with SIGKILL.
        endpoint = harness.Endpoint(os.path.join(WORK, "orphan"), "--ssh-port", str(free_port()),
                                    "--list-delay", "0", "--exit-with-parent",
                                    launcher=["/bin/sh", "-c", '"$@" & wait', "sh"])
        try:
            pids = self.start_two_instances(endpoint)
            shell = endpoint.process
            shell.kill()
            shell.wait()
            wait_for(lambda: not os.path.exists(endpoint.ready_file), "the orphaned endpoint to exit")
            wait_for(lambda: all(not ssh_servers.session_members(pid) for pid in pids), "the servers to stop")
            self.assert_nothing_left(endpoint, pids)
        finally:
            endpoint.stop(signal.SIGKILL)


class Concurrency(unittest.TestCase):
    def test_many_threads_run_list_tag_and_terminate_at_once(self):
        threads = 8
        clients = [ENDPOINT.client() for _ in range(threads)]
        results, errors = [None] * threads, []

        def work(n):
            try:
                c = clients[n]
                instance = run_one(c, subnet=SUBNETS[n % 2], tags={"cloudhost-test": "concurrent", "n": str(n)})
                c.create_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": "worker", "Value": str(n)}])
                for _ in range(3):
                    listed(c, Filters=[{"Name": "tag:cloudhost-test", "Values": ["concurrent"]}])
                results[n] = instance["InstanceId"]
            except Exception as e:  # reported below, with the worker's number
                errors.append(f"worker {n}: {e!r}")

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(POLL_LIMIT * 4)
        self.assertEqual(errors, [])
        self.assertEqual(len(set(results)), threads)
        c = ENDPOINT.client()
        everyone = wait_for(lambda: (lambda found: found if len(found) == threads and all(
            i.get("PrivateIpAddress") for i in found) else None)(
            listed(c, Filters=[{"Name": "tag:cloudhost-test", "Values": ["concurrent"]}])[0]), "all listed")
        self.assertEqual(sorted(i["InstanceId"] for i in everyone), sorted(results))
        self.assertEqual(len({i["PrivateIpAddress"] for i in everyone}), threads)
        self.assertEqual({int({t["Key"]: t["Value"] for t in i["Tags"]}["worker"]) for i in everyone},
                         set(range(threads)))
        c.terminate_instances(InstanceIds=results)
        wait_for(lambda: all(i["State"]["Name"] == "terminated" for i in listed(c, InstanceIds=results)[0]),
                 "all terminated")


class CommandLine(unittest.TestCase):
    def start(self, name, faults):
        path = os.path.join(WORK, name + ".json")
        with open(path, "w") as f:
            json.dump(faults, f)
        return path, subprocess.Popen([sys.executable, os.path.join(harness.HERE, "run_endpoint.py"),
                                       "--state-dir", os.path.join(WORK, name), "--no-ssh-servers",
                                       "--faults", path], stderr=subprocess.PIPE, text=True)

    def test_a_bad_faults_file_is_refused_naming_the_file_entry_and_field(self):
        for name, faults, field in (("bad-field", [{"code": "Throttling"}, {"code": "X", "colour": 1}], "colour"),
                                    ("bad-count", [{"code": "X", "count": "2"}], "count"),
                                    ("not-a-list", {"code": "X"}, "list")):
            with self.subTest(name=name):
                path, process = self.start(name, faults)
                _, stderr = process.communicate(timeout=60)
                self.assertNotEqual(process.returncode, 0)
                self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
                self.assertIn(path, stderr)
                self.assertIn(field, stderr)
                self.assertFalse(os.path.exists(os.path.join(WORK, name, "ready.json")))

    def test_faults_from_the_file_apply(self):
        endpoint = harness.Endpoint(os.path.join(WORK, "faults-file"), "--faults", self.start_file(), ssh=False)
        try:
            c = endpoint.client()
            self.assertEqual(error_code(lambda: run_one(c, subnet="subnet-0f")), ("VcpuLimitExceeded", 400))
            self.assertEqual(endpoint.counters()["faults_injected"], {"RunInstances:VcpuLimitExceeded": 1})
            run_one(c, subnet="subnet-0f")
        finally:
            self.assertEqual(endpoint.stop(), 0)

    def start_file(self):
        path = os.path.join(WORK, "good-faults.json")
        with open(path, "w") as f:
            json.dump([{"action": "RunInstances", "code": "VcpuLimitExceeded"}], f)
        return path


class ZzEveryResponseParses(unittest.TestCase):
    """Runs last: every response the shared endpoint sent, through botocore's parser."""

    def test_every_recorded_response_parses_to_what_the_endpoint_meant(self):
        model = botocore.session.get_session().get_service_model("ec2")
        responses = ENDPOINT.control("GET", "/responses")[1]
        self.assertEqual(ENDPOINT.counters()["internal_errors"], 0)
        self.assertFalse([r for r in responses if r["status"] == 500 and "test endpoint bug" in r["xml"]])
        kinds = set()
        for i, response in enumerate(responses):
            with self.subTest(i=i, action=response["action"]):
                ok = response["status"] == 200
                shape = model.operation_model(response["action"]).output_shape if ok else None
                parsed = botocore.parsers.EC2QueryParser().parse(
                    {"body": response["xml"].encode(), "status_code": response["status"], "headers": {}}, shape)
                request_id = parsed.pop("ResponseMetadata")["RequestId"]
                self.assertRegex(request_id, r"^[0-9a-f-]{36}$")
                if not ok:
                    parsed["Error"] = {k: parsed["Error"][k] for k in ("Code", "Message")}
                self.assertEqual(_json_like(parsed), response["expected"])
                kinds.add((response["action"], ok))
        # The check has teeth: a misnamed element is data the SDK silently drops.
        described = next(r for r in responses if r["action"] == "DescribeInstances" and "<instanceId>" in r["xml"])
        broken = botocore.parsers.EC2QueryParser().parse(
            {"body": described["xml"].replace("instanceId>", "instanceID>").encode(), "status_code": 200,
             "headers": {}}, model.operation_model("DescribeInstances").output_shape)
        broken.pop("ResponseMetadata")
        self.assertNotEqual(_json_like(broken), described["expected"])
        for action in ("RunInstances", "DescribeInstances", "DescribeInstanceStatus", "CreateTags",
                       "TerminateInstances", "ImportKeyPair", "DescribeKeyPairs", "DescribeSpotPriceHistory"):
            self.assertIn((action, True), kinds)
            self.assertIn((action, False), kinds)


def _json_like(value):
    if isinstance(value, dict):
        return {k: _json_like(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_like(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat()
    return value


if __name__ == "__main__":
    unittest.main(verbosity=2)
