"""The composition root: pick the adapters the settings ask for and hand them out together."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from PIL import Image

from annotation_core.accounts import UserRepository
from annotation_core.announcers import Announcer, EventBridgeAnnouncer, LocalAnnouncer
from annotation_core.api_tokens import TokenRepository
from annotation_core.database import database_url, ensure_schema, make_engine
from annotation_core.lifecycle import JobRunner
from annotation_core.logs import configure_logging
from annotation_core.rate_limits import RateCounters
from annotation_core.repository import ImageRepository
from annotation_core.secrets import SecretValue, resolve_secrets
from annotation_core.settings import Settings, load_settings
from annotation_core.storage import LocalFolderStore, ObjectStore, S3Store

LOCAL_IMAGE_BUCKET = "images"
LOCAL_THUMBNAIL_BUCKET = "thumbnails"
MEDIA_URL_PREFIX = "/media"


@dataclass(frozen=True)
class Services:
    """Everything a request or a job needs, chosen once per process."""

    settings: Settings
    repository: ImageRepository
    originals: ObjectStore
    thumbnails: ObjectStore
    # Where due jobs are announced: EventBridge on AWS (None without EVENT_BUS_NAME), else the local worker.
    announcer: Announcer | None

    @property
    def engine(self) -> sa.Engine:
        return self.repository.engine

    @property
    def users(self) -> UserRepository:
        return UserRepository(self.engine)

    @property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self.engine)

    @property
    def rate_counters(self) -> RateCounters:
        return RateCounters(self.engine)

    def runner(self) -> JobRunner:
        return JobRunner(self.repository, self.originals, self.settings)

    def with_announcer(self, announcer: Announcer) -> Services:
        return dataclasses.replace(self, announcer=announcer)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    engine: sa.Engine | None = None,
    s3_client: Any = None,
    events_client: Any = None,
    secrets_client: Any = None,
    migrate: bool = False,
    single_connection: bool = False,
) -> Services:
    """Build the services: S3 or folders, MySQL or SQLite, EventBridge or the local worker. Connects lazily
    unless `migrate` asks to bring the schema up to date first. `single_connection` keeps at most one
    database connection (a Lambda container handles one invocation at a time)."""
    settings = resolve_secrets(settings, secrets_client)
    # Our own check refuses images over MAX_IMAGE_PIXELS; Pillow's guard (2x its limit) must not be stricter.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, settings.max_image_pixels)
    if engine is None:
        password = None
        if settings.uses_mysql and settings.db_secret_arn and not settings.db_password:
            password = SecretValue(settings.db_secret_arn, "DB_SECRET_ARN", secrets_client).get
        pool = {"pool_size": 1, "max_overflow": 0} if single_connection else {}
        engine = make_engine(database_url(settings), password, **pool)
    if migrate:
        ensure_schema(engine)
    repository = ImageRepository(engine)
    if settings.uses_s3:
        announcer = None
        if settings.event_bus_name:
            announcer = EventBridgeAnnouncer(settings.event_bus_name, settings.s3_image_bucket, events_client)
        return Services(
            settings,
            repository,
            S3Store(settings.s3_image_bucket, s3_client),
            S3Store(settings.s3_thumbnail_bucket, s3_client),
            announcer,
        )
    root = Path(settings.data_dir)
    return Services(
        settings,
        repository,
        LocalFolderStore(root / LOCAL_IMAGE_BUCKET, LOCAL_IMAGE_BUCKET, f"{MEDIA_URL_PREFIX}/{LOCAL_IMAGE_BUCKET}"),
        LocalFolderStore(
            root / LOCAL_THUMBNAIL_BUCKET, LOCAL_THUMBNAIL_BUCKET, f"{MEDIA_URL_PREFIX}/{LOCAL_THUMBNAIL_BUCKET}"
        ),
        LocalAnnouncer(root),
    )


@functools.cache
def lambda_services() -> Services:
    """Services for a Lambda container, built on the first invocation and reused while it stays warm.

    The schema is brought up to date here too: stack 03's functions are updated before stack 04's web tier.
    """
    settings = load_settings(read_dotenv=False)
    configure_logging(settings.log_level, json_lines=True)
    return bootstrap(settings, migrate=True, single_connection=True)
