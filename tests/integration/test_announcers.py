"""Announcing due jobs: EventBridge `PutEvents` that stack 03's rules route by job (moto), and datagrams to
this machine's worker on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from annotation_core.announcers import EventBridgeAnnouncer, InProcessAnnouncer, LocalAnnouncer
from annotation_core.errors import PublishError
from annotation_core.events import JOB_SOURCE, JobDue, ObjectCreated, parse_job_targets
from annotation_core.local_channel import PORT_FILE, JobListener, WorkerLock, send_jobs
from annotation_core.records import Job
from tests.deployed_rules import job_rule_patterns, upload_rule_pattern

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "image-annotation-originals-123456789012"


# --- EventBridge, with stack 03's rules on moto ---


@pytest.fixture
def rules_to_queues(aws_env) -> Iterator[tuple]:
    """moto EventBridge with the deployed rules on the default bus, each targeting an SQS queue we can read."""
    with mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        patterns = {
            "upload": upload_rule_pattern(BUCKET),
            **{str(job): p for job, p in job_rule_patterns(BUCKET).items()},
        }
        queues = {}
        for name, pattern in patterns.items():
            url = sqs.create_queue(QueueName=f"{name}-target")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name=f"{name}-rule", EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule=f"{name}-rule", Targets=[{"Id": "queue", "Arn": arn}])
            queues[name] = url
        yield events, sqs, queues


def received(sqs, queue_url: str) -> list[dict]:
    found = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_due_jobs_reach_the_rule_of_their_job_only_and_parse_back(rules_to_queues):
    events, sqs, queues = rules_to_queues

    EventBridgeAnnouncer("default", BUCKET, events).due([(7, Job.CAPTION), (8, Job.THUMBNAIL), (9, Job.CAPTION)])

    captions = received(sqs, queues["caption"])
    assert sorted((t for event in captions for t in parse_job_targets(event)), key=lambda t: t.image_id) == [
        JobDue(7, Job.CAPTION, BUCKET),
        JobDue(9, Job.CAPTION, BUCKET),
    ]
    assert all(event["source"] == JOB_SOURCE for event in captions)
    thumbnails = [parse_job_targets(event) for event in received(sqs, queues["thumbnail"])]
    assert thumbnails == [[JobDue(8, Job.THUMBNAIL, BUCKET)]]
    assert received(sqs, queues["upload"]) == [], "job events do not wake both functions"


def test_jobs_of_another_deployment_reach_no_rule(rules_to_queues):
    events, sqs, queues = rules_to_queues
    EventBridgeAnnouncer("default", "the-other-deployments-bucket", events).due([(7, Job.CAPTION), (8, Job.THUMBNAIL)])
    assert all(received(sqs, url) == [] for url in queues.values())


def test_many_due_jobs_go_out_ten_per_call_and_all_arrive(rules_to_queues):
    events, sqs, queues = rules_to_queues
    calls = []
    events.meta.events.register(
        "before-parameter-build.events.PutEvents", lambda params, **_: calls.append(len(params["Entries"]))
    )

    EventBridgeAnnouncer("default", BUCKET, events).due((image_id, Job.THUMBNAIL) for image_id in range(1, 26))

    assert calls == [10, 10, 5]
    delivered = [target.image_id for event in received(sqs, queues["thumbnail"]) for target in parse_job_targets(event)]
    assert sorted(delivered) == list(range(1, 26))


def test_an_upload_needs_no_announcement_on_aws(rules_to_queues):
    events, sqs, queues = rules_to_queues
    EventBridgeAnnouncer("default", BUCKET, events).uploaded(5)
    assert all(received(sqs, url) == [] for url in queues.values())


def test_the_upload_rule_matches_s3s_own_event_under_uploads_only(rules_to_queues):
    events, sqs, queues = rules_to_queues
    s3_event = json.loads((ROOT / "tests" / "events" / "eventbridge_object_created.json").read_text())

    def put(bucket: str, key: str) -> None:
        detail = {
            **s3_event["detail"],
            "bucket": {"name": bucket},
            "object": {**s3_event["detail"]["object"], "key": key},
        }
        entry = {"Source": "aws.s3", "DetailType": "Object Created", "Detail": json.dumps(detail)}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

    put(BUCKET, "uploads/0123.jpg")
    put(BUCKET, "thumbnails/0123.jpg")  # not an upload
    put("some-other-bucket", "uploads/0123.jpg")  # not our bucket

    assert [parse_job_targets(event) for event in received(sqs, queues["upload"])] == [
        [ObjectCreated(BUCKET, "uploads/0123.jpg")]
    ]
    assert received(sqs, queues["caption"]) == received(sqs, queues["thumbnail"]) == []


def test_the_client_is_made_lazily(rules_to_queues):
    _events, sqs, queues = rules_to_queues
    announcer = EventBridgeAnnouncer("default", BUCKET)
    assert announcer._client is None, "nothing connects at construction"
    announcer.due([(3, Job.CAPTION)])
    assert len(received(sqs, queues["caption"])) == 1


class RefusingEvents:
    """An EventBridge client whose PutEvents answers like a throttled entry."""

    def __init__(self):
        self.entries: list[dict] = []

    def put_events(self, Entries):  # noqa: N803 - boto3's argument name
        self.entries.extend(Entries)
        answers = [{"EventId": "ok"}] * (len(Entries) - 1)
        return {
            "FailedEntryCount": 1,
            "Entries": [*answers, {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}],
        }


def test_a_failed_entry_raises_publish_error():
    client = RefusingEvents()
    with pytest.raises(PublishError, match="refused 1 of 2 job events: Rate exceeded") as caught:
        EventBridgeAnnouncer("image-bus", BUCKET, client).due([(1, Job.CAPTION), (2, Job.CAPTION)])
    assert caught.value.http_status == 503
    assert {entry["EventBusName"] for entry in client.entries} == {"image-bus"}


class AnsweringEvents:
    """An EventBridge client whose PutEvents gives the answers it is told, entry by entry."""

    def __init__(self, answers: list[dict]):
        self.answers = answers

    def put_events(self, Entries):  # noqa: N803 - boto3's argument name
        failed = sum(1 for answer in self.answers if "ErrorCode" in answer)
        return {"FailedEntryCount": failed, "Entries": self.answers}


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (
            [{"EventId": "ok"}, {"ErrorCode": "InternalFailure"}, {"ErrorCode": "ThrottlingException"}],
            "InternalFailure",
        ),
        ([{"ErrorCode": ""}, {"EventId": "ok"}, {"EventId": "ok"}], "unknown error"),
    ],
    ids=["code-of-the-first-failed", "nothing-said"],
)
def test_a_refusal_names_the_first_failed_entry_s_reason(answers, reason):
    client = AnsweringEvents(answers)
    with pytest.raises(PublishError) as caught:
        EventBridgeAnnouncer("image-bus", BUCKET, client).due([(1, Job.CAPTION), (2, Job.CAPTION), (3, Job.CAPTION)])
    failed = sum(1 for answer in answers if "ErrorCode" in answer)
    assert caught.value.message == f"EventBridge refused {failed} of 3 job events: {reason}."


def test_an_api_error_raises_publish_error_naming_the_bus(rules_to_queues):
    events, _sqs, _queues = rules_to_queues
    with pytest.raises(PublishError, match="'no-such-bus'") as caught:
        EventBridgeAnnouncer("no-such-bus", BUCKET, events).due([(1, Job.CAPTION)])
    assert caught.value.http_status == 503
    assert "try again later" in caught.value.message


# --- datagrams to this machine's worker ---


def test_announcements_arrive_at_the_listener_in_order(tmp_path):
    listener = JobListener(tmp_path)
    try:
        LocalAnnouncer(tmp_path).uploaded(12)
        LocalAnnouncer(tmp_path).due([(13, Job.CAPTION)])
        assert list(listener.receive()) == [(12, Job.THUMBNAIL), (12, Job.CAPTION)]
        assert list(listener.receive()) == [(13, Job.CAPTION)]
    finally:
        listener.close()
    assert not (tmp_path / PORT_FILE).exists(), "a stopped worker unpublishes its port"


def test_a_thousand_jobs_fit_in_datagrams(tmp_path):
    listener = JobListener(tmp_path)
    try:
        LocalAnnouncer(tmp_path).due((n, Job.THUMBNAIL) for n in range(1, 1001))
        got = list(listener.receive()) + list(listener.receive())
        assert [image_id for image_id, _job in got] == list(range(1, 1001))
    finally:
        listener.close()


@pytest.mark.parametrize(
    "datagram",
    [b"not json", b'{"image_id": 1}', b'[[1, "resize"], ["2", "caption"], [true, "caption"]]', b"[[1]]"],
    ids=["text", "object", "bad-pairs", "short-pair"],
)
def test_malformed_datagrams_are_dropped(tmp_path, datagram, caplog):
    listener = JobListener(tmp_path)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(datagram, listener.socket.getsockname())
        with caplog.at_level(logging.WARNING):
            assert list(listener.receive()) == []
    finally:
        listener.close()


def test_good_pairs_in_a_datagram_are_kept_beside_bad_ones(tmp_path):
    listener = JobListener(tmp_path)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(
                b'[["2", "caption"], [3, "caption"], [4, "resize"], [5, "thumbnail"]]', listener.socket.getsockname()
            )
        assert list(listener.receive()) == [(3, Job.CAPTION), (5, Job.THUMBNAIL)]
    finally:
        listener.close()


def test_a_wake_up_yields_nothing_and_is_not_taken_for_a_malformed_datagram(tmp_path, caplog):
    listener = JobListener(tmp_path)
    try:
        listener.wake()
        with caplog.at_level(logging.WARNING, logger="annotation_core.local_channel"):
            assert list(listener.receive()) == []
        assert caplog.records == []
    finally:
        listener.close()


def test_sending_to_a_running_worker_says_it_arrived(tmp_path, caplog):
    listener = JobListener(tmp_path)
    try:
        assert send_jobs(tmp_path, [(1, Job.CAPTION)]) is True
        with caplog.at_level(logging.INFO, logger="annotation_core.announcers"):
            LocalAnnouncer(tmp_path).due([(2, Job.CAPTION)])
        assert "no local worker" not in caplog.text
        assert list(listener.receive()) + list(listener.receive()) == [(1, Job.CAPTION), (2, Job.CAPTION)]
    finally:
        listener.close()


def test_a_port_file_naming_an_unusable_port_means_the_jobs_wait(tmp_path):
    (tmp_path / PORT_FILE).write_text("0")
    assert send_jobs(tmp_path, [(1, Job.CAPTION)]) is False


def test_two_data_dirs_on_one_machine_have_a_worker_each(tmp_path):
    first, second = JobListener(tmp_path / "one"), JobListener(tmp_path / "two")
    try:
        LocalAnnouncer(tmp_path / "one").due([(1, Job.CAPTION)])
        LocalAnnouncer(tmp_path / "two").due([(2, Job.THUMBNAIL)])
        assert (list(first.receive()), list(second.receive())) == ([(1, Job.CAPTION)], [(2, Job.THUMBNAIL)])
    finally:
        first.close()
        second.close()


def test_a_data_dir_not_made_yet_is_made_with_its_parents(tmp_path):
    data_dir = tmp_path / "var" / "lib" / "annotation"
    lock = WorkerLock(data_dir)
    assert lock.acquire()
    lock.release()
    listener = JobListener(tmp_path / "srv" / "data")
    try:
        assert (tmp_path / "srv" / "data" / PORT_FILE).read_text() == str(listener.socket.getsockname()[1])
    finally:
        listener.close()


def test_a_listener_whose_port_file_was_removed_still_closes(tmp_path):
    listener = JobListener(tmp_path)
    (tmp_path / PORT_FILE).unlink()
    listener.close()
    assert send_jobs(tmp_path, [(1, Job.CAPTION)]) is False


def test_without_a_worker_jobs_wait_and_the_log_says_so(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="annotation_core.announcers"):
        LocalAnnouncer(tmp_path).uploaded(1)
    assert "no local worker is running: 2 jobs wait" in caplog.text


def test_the_in_process_announcer_queues_both_jobs_of_an_upload_and_each_due_job():
    queued = []
    announcer = InProcessAnnouncer(lambda image_id, job: queued.append((image_id, job)))

    announcer.uploaded(4)
    announcer.due([(5, "caption"), (6, Job.THUMBNAIL)])  # a job's name, as a datagram or an event carries it

    assert queued == [(4, Job.THUMBNAIL), (4, Job.CAPTION), (5, Job.CAPTION), (6, Job.THUMBNAIL)]
    assert all(type(job) is Job for _image_id, job in queued)


def test_the_worker_lock_admits_one_holder_per_data_dir(tmp_path):
    first, second = WorkerLock(tmp_path), WorkerLock(tmp_path)
    assert first.acquire()
    assert not first.held_elsewhere(), "the holder is not 'elsewhere'"
    assert second.held_elsewhere() and not second.acquire()
    assert not WorkerLock(tmp_path / "elsewhere").held_elsewhere()
    first.release()
    assert not second.held_elsewhere()
    assert second.acquire()
    assert first.held_elsewhere(), "once released, the first sees the new holder"
    second.release()
