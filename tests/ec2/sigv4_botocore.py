#!/usr/bin/env python3
"""Signs requests with botocore's SigV4Auth, for the C++ signer's tests.

stdin: a JSON list of {"method", "url", "headers": [[name, value]...], "body",
"amz_date", "access_key_id", "secret_access_key", "session_token", "region",
"service"}; stdout: a JSON list of {"canonical_request", "string_to_sign",
"signature"}, one per request.
"""
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    request = AWSRequest(method=case["method"], url=case["url"],
                         data=case["body"].encode("utf-8"))
    for name, value in case["headers"]:
        request.headers[name] = value
    request.context["timestamp"] = case["amz_date"]
    credentials = Credentials(case["access_key_id"], case["secret_access_key"],
                              case.get("session_token") or None)
    auth = SigV4Auth(credentials, case["service"], case["region"])
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    return {"canonical_request": canonical, "string_to_sign": string_to_sign,
            "signature": auth.signature(string_to_sign, request)}


json.dump([sign(case) for case in json.load(sys.stdin)], sys.stdout)
