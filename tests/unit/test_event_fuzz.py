"""Event parsing under mangled and arbitrary input: targets of the right types, or EventParseError, nothing else."""

from __future__ import annotations

from hypothesis import given, settings

from annotation_core.events import MAX_IMAGE_ID, EventParseError, JobDue, ObjectCreated, parse_job_targets
from annotation_core.records import Job
from tests.hostile import mangled_events

FUZZ_EXAMPLES = 400


@settings(max_examples=FUZZ_EXAMPLES)
@given(mangled_events())
def test_any_event_gives_well_typed_targets_or_a_parse_error(event):
    try:
        targets = parse_job_targets(event)
    except EventParseError as error:
        assert error.message.startswith(("Malformed event", "Not an S3 or job event"))
        assert len(error.message) < 400, "a hostile value is quoted, not copied whole into the log"
        return
    for target in targets:
        if isinstance(target, ObjectCreated):
            assert isinstance(target.bucket, str) and target.bucket
            assert isinstance(target.key, str) and target.key
        else:
            assert isinstance(target, JobDue) and isinstance(target.job, Job)
            assert type(target.image_id) is int and 0 < target.image_id < MAX_IMAGE_ID
            assert target.bucket is None or isinstance(target.bucket, str)


def test_an_image_id_no_row_can_have_is_refused():
    event = {"detail-type": "Image Job Due", "detail": {"image_id": MAX_IMAGE_ID, "job": "thumbnail"}}
    try:
        parse_job_targets(event)
    except EventParseError as error:
        assert "positive integer" in error.message
    else:
        raise AssertionError("an id beyond BIGINT was accepted")
