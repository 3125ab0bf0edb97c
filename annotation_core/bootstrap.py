"""The composition root: pick the adapters the settings ask for and hand them out together."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from PIL import Image

from annotation_core.database import create_schema, database_url, make_engine
from annotation_core.logs import configure_logging
from annotation_core.publishers import EventBridgePublisher, EventPublisher, LocalEventBus
from annotation_core.repository import ImageRepository
from annotation_core.secrets import SecretValue, resolve_secrets
from annotation_core.settings import Settings, load_settings
from annotation_core.storage import LocalFolderStore, ObjectStore, S3Store

LOCAL_IMAGE_BUCKET = "images"
LOCAL_THUMBNAIL_BUCKET = "thumbnails"
MEDIA_URL_PREFIX = "/media"


@dataclass
class Services:
    """Everything a request or a job needs, chosen once per process."""

    settings: Settings
    repository: ImageRepository
    originals: ObjectStore
    thumbnails: ObjectStore
    publisher: EventPublisher | None
    local_bus: LocalEventBus | None = None

    @property
    def engine(self) -> sa.Engine:
        return self.repository.engine

    def close(self) -> None:
        """Finish queued local jobs and release connections."""
        if self.local_bus is not None:
            self.local_bus.shutdown()
        self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    engine: sa.Engine | None = None,
    s3_client: Any = None,
    events_client: Any = None,
    secrets_client: Any = None,
    create_tables: bool = False,
) -> Services:
    """Build the services: S3 or folders, MySQL or SQLite, EventBridge or the local bus. Connects lazily."""
    settings = resolve_secrets(settings, secrets_client)
    # Our own check refuses images over MAX_IMAGE_PIXELS; Pillow's guard (2x its limit) must not be stricter.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, settings.max_image_pixels)
    if engine is None:
        password = None
        if settings.uses_mysql and settings.db_secret_arn and not settings.db_password:
            password = SecretValue(settings.db_secret_arn, "DB_SECRET_ARN", secrets_client).get
        engine = make_engine(database_url(settings), password)
    if create_tables:
        create_schema(engine)
    repository = ImageRepository(engine)
    if settings.uses_s3:
        publisher = EventBridgePublisher(settings.event_bus_name, events_client) if settings.event_bus_name else None
        return Services(
            settings,
            repository,
            S3Store(settings.s3_image_bucket, s3_client),
            S3Store(settings.s3_thumbnail_bucket, s3_client),
            publisher,
        )
    bus = LocalEventBus(settings.worker_threads)
    root = Path(settings.data_dir)
    originals = LocalFolderStore(
        root / LOCAL_IMAGE_BUCKET, LOCAL_IMAGE_BUCKET, f"{MEDIA_URL_PREFIX}/{LOCAL_IMAGE_BUCKET}", bus.publish
    )
    thumbnails = LocalFolderStore(
        root / LOCAL_THUMBNAIL_BUCKET, LOCAL_THUMBNAIL_BUCKET, f"{MEDIA_URL_PREFIX}/{LOCAL_THUMBNAIL_BUCKET}"
    )
    return Services(settings, repository, originals, thumbnails, bus, bus)


@functools.cache
def lambda_services() -> Services:
    """Services for a Lambda container, built on the first invocation and reused while it stays warm."""
    settings = load_settings(read_dotenv=False)
    configure_logging(settings.log_level, json_lines=True)
    return bootstrap(settings)
