"""SigV4 check of a received request: the signature is recomputed with
botocore's own signer (SigV4Auth) from what arrived, with the credentials
the endpoint knows, and compared in constant time."""

import datetime
import hashlib
import hmac
import re

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from .errors import ApiError

# How far X-Amz-Date may be from our clock (EC2 allows 5 minutes).
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})")


class _ReceivedRequestSigner(botocore.auth.SigV4Auth):
    """botocore's signer over exactly the headers the client signed (botocore
    itself never signs a few, such as User-Agent, but another SDK may)."""

    def headers_to_sign(self, request):
        header_map = botocore.awsrequest.HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map


def verify(method, scheme_host, path, headers, body, region, lookup_secret):
    """Raises ApiError unless the request is signed for `region` and service ec2.

    headers: a case-insensitive mapping of the received headers.
    lookup_secret(access_key_id, session_token) -> secret key or None.
    """
    authorization = headers.get("Authorization")
    if not authorization:
        raise ApiError("AuthFailure", "AWS was not able to validate the provided access credentials "
                       "(no Authorization header)")
    match = _AUTHORIZATION.fullmatch(authorization.strip())
    if not match:
        raise ApiError("AuthFailure", "Authorization header is not a SigV4 (AWS4-HMAC-SHA256) header")
    key_id, scope_date, scope_region, scope_service, signed_headers, signature = match.groups()
    secret = lookup_secret(key_id, headers.get("X-Amz-Security-Token"))
    if secret is None:
        raise ApiError("AuthFailure", f"AWS was not able to validate the provided access credentials "
                       f"(unknown key {key_id} or session token)")
    if scope_service != "ec2" or scope_region != region:
        raise ApiError("SignatureDoesNotMatch", f"Credential should be scoped to a valid region and "
                       f"service ec2/{region}, not {scope_service}/{scope_region}")
    amz_date = headers.get("X-Amz-Date", "")
    try:
        when = datetime.datetime.strptime(amz_date, botocore.auth.SIGV4_TIMESTAMP).replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        raise ApiError("AuthFailure", f"X-Amz-Date {amz_date!r} is missing or malformed")
    if amz_date[:8] != scope_date:
        raise ApiError("SignatureDoesNotMatch", "credential scope date differs from X-Amz-Date")
    if abs(datetime.datetime.now(datetime.timezone.utc) - when) > MAX_CLOCK_SKEW:
        raise ApiError("RequestExpired", f"Request has expired (X-Amz-Date {amz_date})")
    names = signed_headers.split(";")
    if "host" not in names:
        raise ApiError("SignatureDoesNotMatch", "the host header must be signed")
    signed = {}
    for name in names:
        if headers.get(name) is None:
            raise ApiError("SignatureDoesNotMatch", f"signed header {name} is missing")
        signed[name] = headers.get(name)
    content_sha256 = headers.get("X-Amz-Content-SHA256")
    if content_sha256 is not None and content_sha256 != hashlib.sha256(body).hexdigest():
        # The signature covers this header instead of the body: it must be the body's hash.
        raise ApiError("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match "
                       "what was computed.")
    request = botocore.awsrequest.AWSRequest(method=method, url=scheme_host + path, headers=signed,
                                             data=body)
    request.context["timestamp"] = amz_date
    signer = _ReceivedRequestSigner(
        botocore.credentials.Credentials(key_id, secret, headers.get("X-Amz-Security-Token")), "ec2", region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signature):
        raise ApiError("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                       "signature you provided. Check your AWS Secret Access Key and signing method.")
