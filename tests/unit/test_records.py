"""The overall status users see, derived from the two job states, for every combination."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from annotation_core.errors import ProviderNotConfiguredError
from annotation_core.records import (
    UNFINISHED_STATES,
    ImageRecord,
    Job,
    JobProgress,
    JobState,
    decode_tags,
    encode_tags,
    overall_status,
)

P, R, C, F = JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED, JobState.FAILED

# (thumbnail, caption) -> overall, written out by hand rather than re-derived from the rule.
EXPECTED = {
    (P, P): R, (P, R): R, (P, C): R, (P, F): R,
    (R, P): R, (R, R): R, (R, C): R, (R, F): R,
    (C, P): R, (C, R): R, (C, C): C, (C, F): F,
    (F, P): R, (F, R): R, (F, C): F, (F, F): F,
}  # fmt: skip


def test_the_table_covers_all_sixteen_combinations():
    assert set(EXPECTED) == set(itertools.product(JobState, repeat=2))
    assert len(EXPECTED) == 16


@pytest.mark.parametrize(("thumbnail", "caption"), sorted(EXPECTED), ids=lambda state: state.value)
def test_overall_status(thumbnail, caption):
    assert overall_status(thumbnail, caption) is EXPECTED[thumbnail, caption]


@pytest.mark.parametrize(("thumbnail", "caption"), sorted(EXPECTED), ids=lambda state: state.value)
def test_overall_status_accepts_plain_strings_as_read_from_the_database(thumbnail, caption):
    assert overall_status(thumbnail.value, caption.value) is EXPECTED[thumbnail, caption]


def test_the_rules_in_words():
    for thumbnail, caption in itertools.product(JobState, repeat=2):
        status = overall_status(thumbnail, caption)
        if thumbnail in UNFINISHED_STATES or caption in UNFINISHED_STATES:
            assert status is JobState.PROCESSING
        elif F in (thumbnail, caption):
            assert status is JobState.FAILED
        else:
            assert status is JobState.COMPLETED
    assert [pair for pair in EXPECTED if EXPECTED[pair] is C] == [(C, C)]
    assert all(overall_status(*pair) is not P for pair in EXPECTED), "pending is never shown as overall status"


def test_unknown_state_is_refused():
    with pytest.raises(ValueError):
        overall_status("done", "completed")


def record(thumbnail: JobState, caption: JobState) -> ImageRecord:
    now = datetime(2026, 1, 1)
    return ImageRecord(
        id=1, original_key="uploads/x.jpg", filename="x.jpg", mime_type="image/jpeg", size_bytes=1,
        width=1, height=1, sha256="0" * 64, uploaded_at=now, updated_at=now,
        thumbnail_status=thumbnail, thumbnail_key=None, thumbnail_error="thumb broke", thumbnail_attempts=1,
        thumbnail_started_at=None, thumbnail_finished_at=None, thumbnail_next_attempt_at=None,
        thumbnail_queued_at=now,
        caption_status=caption, caption=None, caption_model=None, caption_error=None, caption_attempts=0,
        caption_started_at=None, caption_finished_at=None, caption_next_attempt_at=None, caption_queued_at=now,
        alt_text=None, tags=None, text_in_image=None, caption_provider=None, caption_prompt_version=None,
        caption_language=None, caption_input_tokens=None, caption_output_tokens=None, caption_latency_ms=None,
        captioned_at=None, edited_caption=None, edited_alt_text=None, edited_tags=None, edited_at=None,
    )  # fmt: skip


def test_record_status_and_job_accessors():
    image = record(F, C)
    assert image.status is JobState.FAILED
    assert image.job_state(Job.THUMBNAIL) is F
    assert image.job_state(Job.CAPTION) is C
    assert record(C, R).status is JobState.PROCESSING
    assert record(C, C).status is JobState.COMPLETED


@pytest.mark.parametrize(
    ("state", "attempts", "next_attempt", "expected"),
    [
        (P, 0, None, "pending"),
        (P, 1, datetime(2026, 1, 1), "waiting to retry (attempt 2 of 5)"),
        (P, 4, datetime(2026, 1, 1), "waiting to retry (attempt 5 of 5)"),
        (P, 5, datetime(2026, 1, 1), "waiting to retry (attempt 5 of 5)"),  # a rate-limited fifth comes again
        (P, 0, datetime(2026, 1, 1), "waiting to retry (attempt 1 of 5)"),  # rate-limited before any counted
        (R, 1, None, "processing"),
        (R, 2, None, "processing (attempt 2 of 5)"),  # the first retry shows it is one
        (R, 3, None, "processing (attempt 3 of 5)"),
        (C, 2, None, "completed"),
        (F, 5, None, "failed"),
    ],
)
def test_job_progress_in_words(state, attempts, next_attempt, expected):
    import dataclasses

    image = dataclasses.replace(record(C, state), caption_attempts=attempts, caption_next_attempt_at=next_attempt)
    progress = image.progress(Job.CAPTION)
    assert progress.describe(max_attempts=5) == expected
    assert progress.waiting_to_retry is (next_attempt is not None)


def test_a_caption_waiting_for_a_provider_says_so_and_other_waits_say_retry():
    import dataclasses

    later = datetime(2026, 1, 1, 0, 5)
    no_provider = ProviderNotConfiguredError("set GEMINI_API_KEY or OPENAI_API_KEY.").message
    waiting = dataclasses.replace(record(C, P), caption_error=no_provider, caption_next_attempt_at=later)
    assert waiting.progress(Job.CAPTION).waiting_for_setup is True
    assert waiting.progress(Job.CAPTION).describe(max_attempts=5) == "waiting for a caption provider"
    unavailable = dataclasses.replace(waiting, caption_error="Gemini is unavailable.", caption_attempts=1)
    assert unavailable.progress(Job.CAPTION).waiting_for_setup is False
    assert unavailable.progress(Job.CAPTION).describe(max_attempts=5) == "waiting to retry (attempt 2 of 5)"


def test_progress_gathers_one_job_s_columns():
    import dataclasses

    started, finished, retry = datetime(2026, 1, 1, 0, 1), datetime(2026, 1, 1, 0, 2), datetime(2026, 1, 1, 0, 3)
    image = dataclasses.replace(
        record(F, P),
        thumbnail_started_at=started,
        thumbnail_finished_at=finished,
        caption_error="Gemini is unavailable.",
        caption_attempts=2,
        caption_next_attempt_at=retry,
    )
    assert image.progress(Job.THUMBNAIL) == JobProgress(Job.THUMBNAIL, F, "thumb broke", 1, started, finished, None)
    assert image.progress("caption") == JobProgress(Job.CAPTION, P, "Gemini is unavailable.", 2, None, None, retry)


def test_tags_are_stored_as_a_json_list_of_readable_text():
    # Stored as written, accents and all: the search index reads this column's text.
    assert encode_tags(("café", "北京", "dog")) == '["café", "北京", "dog"]'
    assert encode_tags([]) == "[]"
    assert decode_tags(encode_tags(["café", "dog"])) == ("café", "dog")
    assert decode_tags(None) == decode_tags("") == ()


def test_people_s_edits_win_field_by_field_over_the_model_s_suggestion():
    import dataclasses

    suggested = dataclasses.replace(
        record(C, C), caption="A dog.", alt_text="Dog on grass", tags='["dog", "grass"]', text_in_image="STOP"
    )
    assert suggested.annotation() == suggested.suggestion()
    assert suggested.edited_fields() == []
    edited = dataclasses.replace(suggested, edited_caption="Rex, our dog.", edited_tags="[]")
    shown = edited.annotation()
    assert (shown.caption, shown.alt_text, shown.tags, shown.text_in_image) == (
        "Rex, our dog.",
        "Dog on grass",
        (),
        "STOP",
    )
    assert edited.edited_fields() == ["caption", "tags"]
    assert edited.suggestion().caption == "A dog.", "the model's suggestion stays visible"
    assert edited.suggestion().tags == ("dog", "grass")
    assert record(C, P).suggestion() is None and record(C, P).annotation().tags == ()
    retagged = dataclasses.replace(suggested, edited_alt_text="Rex on the lawn", edited_tags='["rex", "lawn"]')
    assert (retagged.annotation().alt_text, retagged.annotation().tags) == ("Rex on the lawn", ("rex", "lawn"))
    untagged = dataclasses.replace(suggested, tags=None)
    assert untagged.suggestion().tags == () and untagged.annotation().tags == ()
