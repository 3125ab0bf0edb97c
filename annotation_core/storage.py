"""Object storage: one small interface, an S3 adapter and a local-folder adapter."""

from __future__ import annotations

import functools
import os
import tempfile
import time
import unicodedata
from email.utils import encode_rfc2231
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from annotation_core.errors import StorageError

# Objects are written once under unique keys and never change.
IMMUTABLE = "public, max-age=31536000, immutable"
# A local object is written to `.incoming-<pid>-<random>` beside its key, then renamed into place.
TEMPORARY_PREFIX = ".incoming-"


class ObjectStore(Protocol):
    """A bucket: save, load, check, delete and link objects by key."""

    bucket: str

    def save(self, key: str, data: bytes, content_type: str, cache_control: str | None = None) -> None: ...

    def load(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def url(self, key: str, download_name: str | None = None) -> str: ...


def attachment(filename: str) -> str:
    """A `Content-Disposition` that saves the object as `filename` (RFC 6266): an ASCII `filename` for old
    clients, and the exact name as UTF-8 in `filename*` (RFC 5987) when it holds anything else."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = "".join("_" if char in '"\\' or not char.isprintable() else char for char in ascii_name).strip()
    value = f'attachment; filename="{ascii_name or "download"}"'
    if ascii_name != filename:
        value += f"; filename*={encode_rfc2231(filename, 'utf-8')}"
    return value


class LocalFolderStore:
    """A bucket as a folder, served by the web app under `url_prefix` (immutable, as S3 objects are here)."""

    def __init__(self, root: Path, bucket: str, url_prefix: str):
        self.root = Path(root)
        self.bucket = bucket
        self.url_prefix = url_prefix.rstrip("/")

    def path(self, key: str) -> Path:
        """Map a key to a file inside the root, refusing keys that would escape it."""
        # Split the raw key: PurePosixPath would quietly drop "." and empty parts, aliasing other keys.
        parts = key.split("/")
        if any(part in ("", ".", "..") for part in parts) or "\\" in key or "\x00" in key:
            raise StorageError(f"Refused object key {key!r}.")
        return self.root.joinpath(*parts)

    def save(self, key: str, data: bytes, content_type: str, cache_control: str | None = None) -> None:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write to a temporary file and rename, so no reader ever sees half an object.
            # The writer's pid in the name tells `remove_abandoned_writes` whose write a leftover was.
            prefix = f"{TEMPORARY_PREFIX}{os.getpid()}-"
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=prefix, delete=False) as handle:
                handle.write(data)
            os.replace(handle.name, target)
        except OSError as error:
            raise StorageError(f"Could not write {key} to {self.bucket}: {error.strerror}.") from error

    def remove_abandoned_writes(self) -> int:
        """Delete temporary files of writers that died mid-write (killed, or the machine lost power);
        returns how many. A file of a living writer is left alone: its write may still be going on."""
        removed = 0
        for path in self.root.rglob(f"{TEMPORARY_PREFIX}*"):
            writer = path.name[len(TEMPORARY_PREFIX) :].split("-", 1)[0]
            if not writer.isdigit() or not _alive(int(writer)):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def load(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as error:
            raise StorageError(f"{key} is missing from {self.bucket}; upload the image again.") from error

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def url(self, key: str, download_name: str | None = None) -> str:
        """The media route's link; with `download_name` it answers as an attachment of the stored file name."""
        return f"{self.url_prefix}/{key}" + ("?download=1" if download_name else "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


class S3Store:
    """A private S3 bucket; links are presigned GET URLs.

    A link is signed for an hour and handed out unchanged for the first 50 minutes of it, so a browser
    that sees the same image again (the gallery polls) finds the same URL and uses its cached copy.
    """

    URL_SECONDS = 3600
    URL_REUSE_SECONDS = 3000

    def __init__(self, bucket: str, client: Any = None):
        self.bucket = bucket
        self._client = client
        self._signed = functools.lru_cache(maxsize=4096)(self._sign)

    @property
    def client(self) -> Any:
        if self._client is None:  # made on first use, never at import
            import boto3
            from botocore.config import Config

            # Presign with SigV4: SigV2 is legacy, refused in newer regions and for SSE-KMS objects.
            self._client = boto3.client("s3", config=Config(signature_version="s3v4"))
        return self._client

    def save(self, key: str, data: bytes, content_type: str, cache_control: str | None = None) -> None:
        extra = {"CacheControl": cache_control} if cache_control else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra)
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"Could not write {key} to s3://{self.bucket}: {error}") from error

    def load(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey as error:
            raise StorageError(f"{key} is missing from s3://{self.bucket}; upload the image again.") from error
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"Could not read {key} from s3://{self.bucket}: {error}") from error

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"Could not check {key} in s3://{self.bucket}: {error}") from error
        return True

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"Could not delete {key} from s3://{self.bucket}: {error}") from error

    def url(self, key: str, download_name: str | None = None) -> str:
        """A presigned GET; with `download_name`, S3 answers with a Content-Disposition that saves it so."""
        return self._signed(key, download_name, int(time.time() // self.URL_REUSE_SECONDS))

    def _sign(self, key: str, download_name: str | None, _window: int) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = attachment(download_name)
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.URL_SECONDS)
