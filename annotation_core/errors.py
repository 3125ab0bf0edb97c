"""Our own exceptions: each carries the HTTP status it maps to and a message a user can act on."""


class AnnotationError(Exception):
    """Base of every error this system raises on purpose."""

    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConfigurationError(AnnotationError):
    """A setting is missing or has a value we cannot use; the message names the variable."""


class InvalidImageError(AnnotationError):
    """The upload is empty, corrupt, or not an image at all."""

    http_status = 400


class UnsupportedImageTypeError(AnnotationError):
    """The upload is a real file of a type we do not process."""

    http_status = 415


class ImageTooLargeError(AnnotationError):
    """The upload exceeds the byte or pixel limit."""

    http_status = 413


class ImageNotFoundError(AnnotationError):
    """No image has the requested id."""

    http_status = 404


class TokenNotFoundError(AnnotationError):
    """The caller has no API token with the requested id."""

    http_status = 404


class StorageError(AnnotationError):
    """Reading or writing an object in a bucket failed."""

    http_status = 503


class PublishError(AnnotationError):
    """An event announcing work could not be published."""

    http_status = 503


class JobError(AnnotationError):
    """A thumbnail or caption job failed for good; the message is stored as the job's error text."""


class CaptionProviderError(JobError):
    """The caption provider refused the request in a way retrying cannot fix (bad key, unknown model, ...)."""


class RetryLaterError(AnnotationError):
    """A job hit a transient failure (rate limit, overload, timeout, a dependency briefly down).

    The lifecycle puts the job back to pending and tries again after a backoff, at least `retry_after`
    seconds when the service said so. A `throttled` failure (the service is rate-limiting us) does not use
    up one of the job's attempts: waiting is the whole remedy.
    """

    http_status = 503

    def __init__(self, message: str, *, retry_after: float | None = None, throttled: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


class ProviderNotConfiguredError(RetryLaterError):
    """No caption provider is set up: the caption waits, uncounted, until one is (no red wall of failures).

    The lifecycle catches it before any other RetryLaterError and parks the job (its retry time and
    `throttled` flag are not used)."""

    PREFIX = "Captions are off: "

    def __init__(self, how_to: str):
        super().__init__(self.PREFIX + how_to)


class AuthenticationError(AnnotationError):
    """No valid credentials: wrong user name or password, an unknown or revoked token, an expired session."""

    http_status = 401


class PermissionDeniedError(AnnotationError):
    """The caller is known, but their role may not do this."""

    http_status = 403


class AccountError(AnnotationError):
    """A user name, role or password that cannot be used; the message says why."""

    http_status = 400


class TooManyRequestsError(AnnotationError):
    """A rate limit was reached; `retry_after` says in how many seconds to try again."""

    http_status = 429

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after
