"""The one error type every layer raises; the server turns it into EC2's error XML."""

# HTTP status EC2 uses for a code when none is given.
_DEFAULT_STATUS = {
    "AuthFailure": 401,
    "SignatureDoesNotMatch": 403,
    "RequestLimitExceeded": 503,
    "Unavailable": 503,
    "InternalError": 500,
    "InsufficientInstanceCapacity": 500,
}


def default_status(code):
    return _DEFAULT_STATUS.get(code, 400)


class ApiError(Exception):
    def __init__(self, code, message, status=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else default_status(code)
