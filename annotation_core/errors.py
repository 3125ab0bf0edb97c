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


class StorageError(AnnotationError):
    """Reading or writing an object in a bucket failed."""

    http_status = 503


class PublishError(AnnotationError):
    """An event announcing work could not be published."""

    http_status = 503


class JobError(AnnotationError):
    """A thumbnail or caption job failed; the message is stored as the job's error text."""


class CaptionProviderError(JobError):
    """The caption provider refused or failed the request after its retries."""
