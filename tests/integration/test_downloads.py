"""Downloading an original saves it under the name it was uploaded with: the media route locally, and the
presigned S3 link (moto's server) on AWS, both with an RFC 6266 Content-Disposition whose `filename*` (RFC 5987)
keeps names that are not ASCII."""

from __future__ import annotations

import urllib.request

import pytest

from annotation_core.storage import attachment
from annotation_core.uploads import check_upload, store_upload
from conftest import ADMIN_PASSWORD, FAST_HASHING
from tests import images
from tests.integration.test_aws_web_tier import aws_services, create_buckets
from tests.web_client import seed, sign_in

NAME = 'Café "Zürich" – 東京.jpg'
EXPECTED = (
    'attachment; filename="Cafe _Zurich_  .jpg"; '
    "filename*=utf-8''Caf%C3%A9%20%22Z%C3%BCrich%22%20%E2%80%93%20%E6%9D%B1%E4%BA%AC.jpg"
)


def test_a_name_is_kept_whole_in_filename_star_and_made_safe_in_the_ascii_fallback():
    assert attachment(NAME) == EXPECTED
    assert attachment("harbour.jpg") == 'attachment; filename="harbour.jpg"', "ASCII names need no filename*"
    assert attachment("東京.jpg").startswith('attachment; filename=".jpg"; filename*=utf-8'), "never an empty name"
    assert attachment("東京") == "attachment; filename=\"download\"; filename*=utf-8''%E6%9D%B1%E4%BA%AC"


def test_every_printable_ascii_character_but_quote_and_backslash_is_kept():
    name = "".join(chr(code) for code in range(33, 127) if chr(code) not in '"\\') + ".jpg"
    assert attachment(name) == f'attachment; filename="{name}"'


def test_the_media_route_saves_an_original_under_its_own_name(client, client_as, worker):
    data = images.jpeg(color="orange")
    image_id = seed(worker, NAME, data)
    image = client.get(f"/api/images/{image_id}").get_json()

    with client.get(image["download_url"]) as downloaded:
        assert downloaded.status_code == 200 and downloaded.data == data
        assert downloaded.headers["Content-Disposition"] == EXPECTED
    with client.get(image["original_url"]) as viewed:
        assert not viewed.headers.get("Content-Disposition", "").startswith("attachment"), "viewing is not downloading"
    viewer = client_as("viewer")
    assert viewer.get(f"/api/images/{image_id}").get_json()["download_url"] is None
    assert viewer.get(image["download_url"]).status_code == 403


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_presigned_s3_link_saves_an_original_under_its_own_name(moto_server, monkeypatch, engine):
    from web_app.app import create_app

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    create_buckets()
    services = aws_services(engine, flask_secret_key="shared", admin_password=ADMIN_PASSWORD, **FAST_HASHING)
    app = create_app(services=services)
    data = images.jpeg((120, 80))
    record = store_upload(services, check_upload(services, NAME, data)).record

    image = sign_in(app.test_client(), "admin", ADMIN_PASSWORD).get(f"/api/images/{record.id}").get_json()

    assert "response-content-disposition=" in image["download_url"]
    with urllib.request.urlopen(image["download_url"], timeout=10) as response:
        assert response.headers["Content-Disposition"] == EXPECTED
        assert response.read() == data
    with urllib.request.urlopen(image["original_url"], timeout=10) as response:
        assert response.headers["Content-Disposition"] is None
