"""A request that closes every temporary file its form parser opened, even for a body cut off mid-part.

Werkzeug hands a file part's spool file to `request.files` only once the part is complete; when the body
ends early (a client that lies about Content-Length, or drops the connection), the half-written spool file
is dropped unclosed and Python warns about it (ResourceWarning) when it is collected.
"""

from __future__ import annotations

from typing import IO

from flask import Request


class ClosingRequest(Request):
    """Flask's request, remembering the spool files it opens and closing them with the request."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        stream = super()._get_file_stream(total_content_length, content_type, filename, content_length)
        self.__dict__.setdefault("_spool_files", []).append(stream)
        return stream

    def close(self) -> None:
        super().close()
        for stream in self.__dict__.pop("_spool_files", ()):
            stream.close()
