"""Tag rules EC2 enforces (keys 1..128 characters, values up to 256, no
`aws:` prefix, at most 50 per resource) and TagSpecifications."""

from .errors import ApiError

MAX_TAGS = 50
RESOURCE_TYPES = {"instance", "volume", "network-interface", "spot-instances-request", "key-pair"}


def check_tags(tags):
    """The tags as a list of {"Key", "Value"}, validated."""
    if len(tags) > MAX_TAGS:
        raise ApiError("TagLimitExceeded", f"The maximum number of tags ({MAX_TAGS}) has been exceeded")
    seen = set()
    result = []
    for tag in tags:
        key = tag.get("Key")
        value = tag.get("Value", "")
        if key is None or not 1 <= len(key) <= 128:
            raise ApiError("InvalidParameterValue", f"Tag key must be 1..128 characters: {key!r}")
        if len(value) > 256:
            raise ApiError("InvalidParameterValue", f"Tag value of {key!r} is longer than 256 characters")
        if key.lower().startswith("aws:"):
            raise ApiError("InvalidParameterValue", f"Tag keys starting with 'aws:' are reserved: {key!r}")
        if key in seen:
            raise ApiError("InvalidParameterValue", f"Duplicate tag key {key!r}")
        seen.add(key)
        result.append({"Key": key, "Value": value})
    return result


def tags_for(tag_specifications, resource_type):
    """The tags TagSpecifications give a resource of `resource_type`."""
    tags = []
    for spec in tag_specifications or []:
        kind = spec.get("ResourceType")
        if kind not in RESOURCE_TYPES:
            raise ApiError("InvalidParameterValue", f"'{kind}' is not a valid taggable resource type for "
                           "this operation.")
        if kind == resource_type:
            tags += spec.get("Tags") or []
    return check_tags(tags)
