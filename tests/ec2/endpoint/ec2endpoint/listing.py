"""What every Describe* action shares: EC2 filters (with * and ? wildcards)
and NextToken pagination with small pages."""

import base64
import hashlib
import json
import re

from .errors import ApiError

MAX_FILTERS = 50
MAX_FILTER_VALUES = 200


def _pattern(value):
    # EC2 filter values: * matches any run, ? one character, \ escapes.
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def compile_filters(filters, known_names):
    """[(name, [patterns])]; an unknown filter name is InvalidParameterValue, like EC2."""
    filters = filters or []
    if len(filters) > MAX_FILTERS:
        raise ApiError("FilterLimitExceeded", f"at most {MAX_FILTERS} filters")
    compiled = []
    for f in filters:
        name = f.get("Name")
        values = f.get("Values") or []
        if not name:
            raise ApiError("InvalidParameterValue", "a filter needs a Name")
        if not (name in known_names or (name.startswith("tag:") and "tag:*" in known_names)):
            raise ApiError("InvalidParameterValue", f"The filter '{name}' is invalid")
        if not values or len(values) > MAX_FILTER_VALUES:
            raise ApiError("InvalidParameterValue", f"The filter '{name}' needs 1..{MAX_FILTER_VALUES} values")
        compiled.append((name, [_pattern(v) for v in values]))
    return compiled


def matches(compiled, attributes):
    """attributes(name) -> list of the item's values for that filter name.

    Filters are ANDed; the values of one filter are ORed."""
    for name, patterns in compiled:
        values = attributes(name)
        if not any(p.fullmatch(v) for p in patterns for v in values):
            return False
    return True


def _query_digest(params):
    relevant = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults", "DryRun")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def page(items, key, params, page_size, max_results_range=(5, 1000)):
    """(the page of `items` after NextToken, the token of the next page or None).

    items are sorted by key(item), a strictly increasing integer, so a page
    boundary stays put while instances come and go."""
    max_results = params.get("MaxResults")
    if max_results is not None:
        low, high = max_results_range
        if not low <= max_results <= high:
            raise ApiError("InvalidParameterValue", f"Value ( {max_results} ) for parameter maxResults is "
                           f"invalid. Expecting a value between {low} and {high}.")
    size = min(page_size, max_results) if max_results else page_size
    digest = _query_digest(params)
    after = -1
    token = params.get("NextToken")
    if token is not None:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            after = int(decoded["after"])
            if decoded["query"] != digest:
                raise ValueError("another query")
        except (ValueError, KeyError, TypeError):
            raise ApiError("InvalidParameterValue", f"The token '{token[:64]}' is invalid for this request")
    remaining = sorted((i for i in items if key(i) > after), key=key)
    chunk = remaining[:size]
    next_token = None
    if len(remaining) > size:
        next_token = base64.urlsafe_b64encode(
            json.dumps({"after": key(chunk[-1]), "query": digest}).encode()).decode()
    return chunk, next_token
