"""`flask --app web_app.app captions backfill`: re-caption images whose caption is missing or came from
another provider, model, language or prompt version (`make backfill` runs it).

It counts first (`--dry-run` stops there), then keeps at most `--concurrency` images queued at a time,
announced as any retry is (the local worker, or PutEvents to the Lambdas on AWS), with a progress bar.
Ctrl-C stops it; what was queued still finishes, and running it again goes on with the rest, because it
picks the images whose caption still does not match. People's edits are never touched.
"""

from __future__ import annotations

import contextlib
import time

import click
from flask.cli import AppGroup
from tqdm import tqdm

from annotation_core.caption_backfill import count_stale_captions, current_provenance, stale_captions
from annotation_core.image_actions import JobBusyError, regenerate_caption
from annotation_core.records import ImageRecord, Job, JobState
from web_app.services import services

captions = AppGroup("captions", help="Captions in bulk.")

POLL_SECONDS = 0.5


@captions.command("backfill")
@click.option("--dry-run", is_flag=True, help="Only count the images that would be re-captioned.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), help="Images in flight.")
@click.option("--limit", default=0, type=click.IntRange(0), help="Stop after this many images (0: all).")
def backfill(dry_run: bool, concurrency: int, limit: int) -> None:
    """Re-caption images whose caption is missing or stale."""
    current = current_provenance(services().settings)
    repository = services().repository
    total = count_stale_captions(repository, current)
    if limit:
        total = min(total, limit)
    described = ", ".join(f"{value}" for value in current.values())
    click.echo(f"{total} image{'s' * (total != 1)} to caption with {described}.")
    if dry_run or not total:
        return
    in_flight: set[int] = set()
    started: set[int] = set()
    with tqdm(total=total, unit="image", desc="captions") as progress:
        while len(started) < total or in_flight:
            for image_id in stale_captions(repository, current, limit=concurrency - len(in_flight), skip=started):
                if len(started) >= total:
                    break
                with contextlib.suppress(JobBusyError):  # a worker took it meanwhile: it is done without us
                    regenerate_caption(services(), image_id)
                started.add(image_id)
                in_flight.add(image_id)
            found = {record.id: record for record in repository.find_many(sorted(in_flight))}
            settled = {image_id for image_id in in_flight if image_id not in found or _settled(found[image_id])}
            progress.update(len(settled))
            in_flight -= settled
            if in_flight:
                time.sleep(POLL_SECONDS)
            elif not stale_captions(repository, current, limit=1, skip=started):
                break


def _settled(record: ImageRecord) -> bool:
    """Done for this run: completed, failed, or waiting on a retry (the job lifecycle finishes it later)."""
    progress = record.progress(Job.CAPTION)
    return progress.state in (JobState.COMPLETED, JobState.FAILED) or progress.waiting_to_retry
