"""Command-line tasks run through Flask's CLI, with the app's own services:

flask --app web_app.app renditions backfill --dry-run     # how many images lack renditions
flask --app web_app.app renditions backfill               # re-render them, with a progress bar
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from tqdm import tqdm

from annotation_core.rendition_backfill import backfill_renditions

renditions = AppGroup("renditions", help="Grid images, previews and placeholders of existing images.")


@renditions.command("backfill")
@click.option("--dry-run", is_flag=True, help="Only count the images that lack renditions.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 100),
    default=4,
    show_default=True,
    help="Thumbnail jobs queued at once (each decodes one original).",
)
def backfill(dry_run: bool, concurrency: int) -> None:
    """Re-render images made before renditions existed, oldest first, through the thumbnail job.

    Stop it any time (Ctrl-C): run it again and it picks up the images that still lack renditions.
    """
    services = current_app.extensions["annotation"]
    total = services.repository.count_lacking_renditions()
    click.echo(f"{total} image{'' if total == 1 else 's'} lack renditions.")
    if dry_run or not total:
        return
    with tqdm(total=total, unit="image", desc="re-rendering") as bar:
        try:
            result = backfill_renditions(services, concurrency=concurrency, progress=bar.update)
        except KeyboardInterrupt:
            bar.close()
            click.echo("Stopped. Jobs already queued still finish; run the command again to continue.", err=True)
            raise SystemExit(130) from None
    click.echo(f"Re-rendered {result.rendered}; {result.gone} deleted meanwhile; {len(result.failed)} failed.")
    if result.failed:
        shown = ", ".join(map(str, result.failed[:20]))
        click.echo(f"Failed (their thumbnail_error says why): {shown}{' ...' if len(result.failed) > 20 else ''}")
