"""Key pairs: ImportKeyPair and DescribeKeyPairs, with the fingerprints AWS
shows for imported keys (RSA: MD5 of the DER public key, colon-separated;
ed25519: base64 of the SHA-256 of the key blob, padded, no prefix)."""

import base64
import datetime
import hashlib
import itertools
import re
import threading

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from . import listing
from .errors import ApiError
from .tags import tags_for

MAX_KEY_PAIRS = 5000
MAX_PUBLIC_KEY_BYTES = 16384
_KEY_NAME = re.compile(r"[\x20-\x7e]{1,255}")
_FILTERS = {"key-name", "fingerprint", "key-pair-id", "key-type", "tag-key", "tag:*"}


def fingerprint_and_type(public_key_text):
    """(fingerprint, "rsa"|"ed25519") of an OpenSSH public key line; ApiError if it is not one."""
    try:
        key = serialization.load_ssh_public_key(public_key_text.strip().encode())
    except (ValueError, TypeError, IndexError, UnsupportedAlgorithm):
        raise ApiError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
    if isinstance(key, rsa.RSAPublicKey):
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        digest = hashlib.md5(der).hexdigest()
        return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)), "rsa"
    if isinstance(key, ed25519.Ed25519PublicKey):
        blob = base64.b64decode(public_key_text.split()[1])
        return base64.b64encode(hashlib.sha256(blob).digest()).decode(), "ed25519"
    raise ApiError("InvalidKey.Format", "Only RSA and ED25519 keys are supported")


class KeyPairs:
    def __init__(self, faults):
        self._faults = faults
        self._lock = threading.Lock()
        self._by_name = {}
        self._ids = itertools.count(1)

    def public_key(self, name):
        with self._lock:
            pair = self._by_name.get(name)
        if pair is None:
            raise ApiError("InvalidKeyPair.NotFound", f"The key pair '{name}' does not exist")
        return pair["PublicKey"]

    def import_key_pair(self, params):
        name = params["KeyName"]
        if not _KEY_NAME.fullmatch(name):
            raise ApiError("InvalidParameterValue", f"Value ({name}) for parameter keyName is invalid")
        material = params["PublicKeyMaterial"]
        if len(material) > MAX_PUBLIC_KEY_BYTES:
            raise ApiError("InvalidKey.Format", "Key is too long")
        try:
            text = material.decode("ascii")
        except UnicodeDecodeError:
            raise ApiError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
        fingerprint, key_type = fingerprint_and_type(text)
        self._faults.take("ImportKeyPair")
        tags = tags_for(params.get("TagSpecifications"), "key-pair")
        with self._lock:
            if name in self._by_name:
                raise ApiError("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")
            if len(self._by_name) >= MAX_KEY_PAIRS:
                raise ApiError("KeyPairLimitExceeded", "Maximum of key pairs reached")
            pair = {"KeyPairId": f"key-{next(self._ids):017x}", "KeyFingerprint": fingerprint,
                    "KeyName": name, "KeyType": key_type, "Tags": tags,
                    "PublicKey": " ".join(text.split()[:2]),
                    "CreateTime": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)}
            self._by_name[name] = pair
        result = {"KeyFingerprint": fingerprint, "KeyName": name, "KeyPairId": pair["KeyPairId"]}
        if tags:
            result["Tags"] = tags
        return result

    def describe_key_pairs(self, params):
        compiled = listing.compile_filters(params.get("Filters"), _FILTERS)
        self._faults.take("DescribeKeyPairs")
        with self._lock:
            pairs = [dict(p) for p in self._by_name.values()]
        for name in params.get("KeyNames") or []:
            if not any(p["KeyName"] == name for p in pairs):
                raise ApiError("InvalidKeyPair.NotFound", f"The key pair '{name}' does not exist")
        for pair_id in params.get("KeyPairIds") or []:
            if not any(p["KeyPairId"] == pair_id for p in pairs):
                raise ApiError("InvalidKeyPair.NotFound", f"The key pair ID '{pair_id}' does not exist")

        def attributes(pair):
            def values(filter_name):
                if filter_name.startswith("tag:"):
                    return [t["Value"] for t in pair["Tags"] if t["Key"] == filter_name[4:]]
                return {"key-name": [pair["KeyName"]], "fingerprint": [pair["KeyFingerprint"]],
                        "key-pair-id": [pair["KeyPairId"]], "key-type": [pair["KeyType"]],
                        "tag-key": [t["Key"] for t in pair["Tags"]]}[filter_name]
            return values

        selected = []
        for pair in pairs:
            if params.get("KeyNames") and pair["KeyName"] not in params["KeyNames"]:
                continue
            if params.get("KeyPairIds") and pair["KeyPairId"] not in params["KeyPairIds"]:
                continue
            if not listing.matches(compiled, attributes(pair)):
                continue
            if not params.get("IncludePublicKey"):
                del pair["PublicKey"]
            if not pair["Tags"]:
                del pair["Tags"]
            selected.append(pair)
        return {"KeyPairs": selected}
