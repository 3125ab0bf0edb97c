"""Re-captioning images whose caption is missing or came from another provider, model, language or prompt
version: which ones, and how many. `flask captions backfill` drives it."""

from __future__ import annotations

import sqlalchemy as sa

from annotation_core.caption_request import prompt_version
from annotation_core.records import JobState
from annotation_core.repository import ImageRepository
from annotation_core.schema import images
from annotation_core.settings import Settings


def current_provenance(settings: Settings) -> dict[str, str]:
    """The provenance a caption written now would carry."""
    model = settings.openai_model if settings.caption_provider == "openai" else settings.gemini_model_name
    return {
        "caption_provider": settings.caption_provider,
        "caption_model": model,
        "caption_language": settings.caption_language,
        "caption_prompt_version": prompt_version(settings.gemini_prompt),
    }


def _stale(current: dict[str, str]) -> sa.ColumnElement[bool]:
    columns = images.c
    return sa.or_(
        columns.caption_status != JobState.COMPLETED,
        *(sa.or_(columns[name].is_(None), columns[name] != value) for name, value in current.items()),
    )


def stale_captions(repository: ImageRepository, current: dict[str, str], *, limit: int, skip: set[int]) -> list[int]:
    """Ids of images to re-caption, newest first, leaving out `skip` and any whose caption job runs now."""
    statement = sa.select(images.c.id).where(_stale(current), images.c.caption_status != JobState.PROCESSING)
    if skip:
        statement = statement.where(images.c.id.not_in(skip))
    with repository.engine.connect() as conn:
        return list(conn.execute(statement.order_by(images.c.id.desc()).limit(limit)).scalars())


def count_stale_captions(repository: ImageRepository, current: dict[str, str]) -> int:
    with repository.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(images).where(_stale(current))).scalar_one()
