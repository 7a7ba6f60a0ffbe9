"""Requests and responses checked against botocore's EC2 service model.

A request's flat form parameters are decoded into the operation's input
shape (the inverse of botocore's EC2Serializer), validated with botocore's
ParamValidator, and re-serialized with botocore's EC2Serializer: the
result must be exactly what was received, so nothing the SDK would not
send gets through. Responses are written from a dict keyed by the output
shape's member names, through the shape's locationNames.
"""

import base64
import binascii
import datetime
import re
import xml.etree.ElementTree as ElementTree

import botocore.session
import botocore.serialize
import botocore.validate

from .errors import ApiError

EC2_NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"
API_VERSION = "2016-11-15"
# Bounds on what a request may carry (every loop over input is bounded).
MAX_PARAMETERS = 1000
MAX_LIST_INDEX = 1000

_service_model = None


def service_model():
    global _service_model
    if _service_model is None:
        _service_model = botocore.session.get_session().get_service_model("ec2", API_VERSION)
    return _service_model


def operation(action):
    try:
        return service_model().operation_model(action)
    except Exception:
        raise ApiError("InvalidAction", f"The action {action} is not valid for this web service.")


def _serialized_name(member_shape, member_name):
    """The query key of a structure member, as EC2Serializer names it."""
    serialization = member_shape.serialization
    if "queryName" in serialization:
        return serialization["queryName"]
    if "name" in serialization:
        name = serialization["name"]
        return name[0].upper() + name[1:]
    return member_name


def _to_tree(params):
    """{"A.1.B": v} -> {"A": {"1": {"B": {None: v}}}}; the None key holds a leaf value."""
    if len(params) > MAX_PARAMETERS:
        raise ApiError("InvalidParameterValue", f"too many parameters ({len(params)})")
    tree = {}
    for key, value in params.items():
        node = tree
        for part in key.split("."):
            if not part:
                raise ApiError("UnknownParameter", f"The parameter {key} is not recognized")
            node = node.setdefault(part, {})
        node[None] = value
    return tree


def _leaf(node, where):
    if set(node) != {None}:
        raise ApiError("UnknownParameter", f"The parameter {where}.{next(k for k in node if k)} is not recognized")
    return node[None]


def _decode_scalar(shape, text, where):
    kind = shape.type_name
    if kind == "string":
        if shape.enum and text not in shape.enum:
            raise ApiError("InvalidParameterValue", f"Value ({text}) for parameter {where} is invalid. "
                           f"Expected one of: {', '.join(shape.enum)}")
        return text
    if kind in ("integer", "long"):
        if not re.fullmatch(r"-?[0-9]{1,19}", text):
            raise ApiError("InvalidParameterValue", f"Value ({text}) for parameter {where} is invalid. "
                           "Expected an integer.")
        return int(text)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ApiError("InvalidParameterValue", f"Value ({text}) for parameter {where} is invalid. "
                           "Expected 'true' or 'false'.")
        return text == "true"
    if kind in ("double", "float"):
        try:
            return float(text)
        except ValueError:
            raise ApiError("InvalidParameterValue", f"Value ({text}) for parameter {where} is invalid. "
                           "Expected a number.")
    if kind == "timestamp":
        try:
            value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError("InvalidParameterValue", f"Value ({text}) for parameter {where} is invalid. "
                           "Expected an ISO 8601 time.")
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if kind == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError("InvalidParameterValue", f"Value for parameter {where} is not valid base64.")
    raise ApiError("InvalidParameterValue", f"parameter {where} has unsupported type {kind}")


def _decode(shape, node, where):
    kind = shape.type_name
    if kind == "structure":
        if None in node:
            raise ApiError("InvalidParameterValue", f"parameter {where} is a structure, not a value")
        by_key = {_serialized_name(member, name): (name, member) for name, member in shape.members.items()}
        result = {}
        for key, child in node.items():
            if key not in by_key:
                raise ApiError("UnknownParameter",
                               f"The parameter {where + '.' if where else ''}{key} is not recognized")
            name, member = by_key[key]
            result[name] = _decode(member, child, f"{where + '.' if where else ''}{key}")
        return result
    if kind == "list":
        if None in node:
            raise ApiError("InvalidParameterValue", f"parameter {where} is a list: use {where}.1, {where}.2, ...")
        indices = []
        for key in node:
            if not re.fullmatch(r"[1-9][0-9]{0,3}", key) or int(key) > MAX_LIST_INDEX:
                raise ApiError("UnknownParameter", f"The parameter {where}.{key} is not recognized")
            indices.append(int(key))
        indices.sort()
        if indices != list(range(1, len(indices) + 1)):
            raise ApiError("InvalidParameterValue", f"list {where} is not numbered 1..N: {indices}")
        return [_decode(shape.member, node[str(i)], f"{where}.{i}") for i in indices]
    if kind == "map":
        raise ApiError("UnknownParameter", f"The parameter {where} is not recognized")
    return _decode_scalar(shape, _leaf(node, where), where)


def decode_request(operation_model, params):
    """Returns the operation's input as botocore would take it, or raises ApiError."""
    shape = operation_model.input_shape
    tree = _to_tree(params)
    decoded = _decode(shape, tree, "") if shape is not None else {}
    if shape is not None:
        missing = [name for name in shape.required_members if name not in decoded]
        if missing:
            raise ApiError("MissingParameter", f"The request must contain the parameter {missing[0]}")
        report = botocore.validate.ParamValidator().validate(decoded, shape)
        if report.has_errors():
            raise ApiError("InvalidParameterValue", " ".join(report.generate_report().split()))
    again = botocore.serialize.EC2Serializer().serialize_to_request(decoded, operation_model)["body"]
    again.pop("Action", None)
    again.pop("Version", None)
    for key, value in params.items():
        if key not in again:
            raise ApiError("UnknownParameter", f"The parameter {key} is not recognized")
        kind_is_text = isinstance(again[key], str)
        if kind_is_text and again[key] != value and not _same_time(again[key], value):
            raise ApiError("InvalidParameterValue",
                           f"Value ({value}) for parameter {key} does not round-trip (SDK form: {again[key]})")
    for key in again:
        # Only an idempotency token the serializer makes up may be extra.
        if key not in params and key != "ClientToken":
            raise ApiError("InvalidParameterValue", f"parameter {key} is implied but was not sent")
    return decoded


def _same_time(a, b):
    try:
        return (datetime.datetime.fromisoformat(a.replace("Z", "+00:00"))
                == datetime.datetime.fromisoformat(b.replace("Z", "+00:00")))
    except ValueError:
        return False


# --- responses -------------------------------------------------------------

def _format_scalar(shape, value, where):
    kind = shape.type_name
    if kind == "boolean":
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected bool, got {value!r}")
        return "true" if value else "false"
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{where}: expected int, got {value!r}")
        return str(value)
    if kind in ("double", "float"):
        return repr(float(value))
    if kind == "timestamp":
        if not isinstance(value, datetime.datetime):
            raise TypeError(f"{where}: expected datetime, got {value!r}")
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{value.microsecond // 1000:03d}Z"
    if kind == "blob":
        return base64.b64encode(value).decode()
    if kind == "string":
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected str, got {value!r}")
        if shape.enum and value not in shape.enum:
            raise TypeError(f"{where}: {value!r} is not one of {shape.enum}")
        return value
    raise TypeError(f"{where}: unsupported type {kind}")


def _write(parent, element_name, shape, value, where):
    element = ElementTree.SubElement(parent, element_name)
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a dict, got {value!r}")
        for name, child in value.items():
            if name not in shape.members:
                raise TypeError(f"{where}: {shape.name} has no member {name}")
            member = shape.members[name]
            _write(element, member.serialization.get("name", name), member, child, f"{where}.{name}")
    elif kind == "list":
        if not isinstance(value, list):
            raise TypeError(f"{where}: expected a list, got {value!r}")
        item_name = shape.member.serialization.get("name", "item")
        for i, item in enumerate(value):
            _write(element, item_name, shape.member, item, f"{where}[{i}]")
    else:
        element.text = _format_scalar(shape, value, where)


def response_xml(operation_model, result, request_id):
    """The XML EC2 sends for `result` (a dict keyed by output member names)."""
    root = ElementTree.Element(f"{operation_model.name}Response", xmlns=EC2_NAMESPACE)
    ElementTree.SubElement(root, "requestId").text = request_id
    shape = operation_model.output_shape
    if shape is not None:
        for name, value in result.items():
            if name not in shape.members:
                raise TypeError(f"{operation_model.name}: output has no member {name}")
            member = shape.members[name]
            _write(root, member.serialization.get("name", name), member, value, name)
    elif result:
        raise TypeError(f"{operation_model.name} has no output")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="utf-8")


def to_json(value):
    """A response dict as JSON-able data (times as ISO 8601 in UTC)."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat()
    return value


def error_xml(code, message, request_id):
    root = ElementTree.Element("Response")
    error = ElementTree.SubElement(ElementTree.SubElement(root, "Errors"), "Error")
    ElementTree.SubElement(error, "Code").text = code
    ElementTree.SubElement(error, "Message").text = message
    ElementTree.SubElement(root, "RequestID").text = request_id
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="utf-8")
