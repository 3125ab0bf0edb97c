"""`?sort=taken` on SQLite and MySQL: newest taken first, undated images after them newest upload first,
keyset pages that neither skip nor repeat across ties and the dated/undated boundary, on the (taken_at, id) index."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from annotation_core.records import JobState
from annotation_core.repository import ImageRepository, NewImage, TakenPosition
from annotation_core.schema import images
from web_app.listing import encode_cursor

# (file name, date taken or None), in upload order; two share a date to test the id tie-break.
UPLOADS = [
    ("undated-old.png", None),
    ("2021.jpg", datetime(2021, 6, 1, 12, 0)),
    ("2023-a.jpg", datetime(2023, 3, 4, 5, 6, 7)),
    ("undated-new.png", None),
    ("2019.jpg", datetime(2019, 1, 1)),
    ("2023-b.jpg", datetime(2023, 3, 4, 5, 6, 7)),
    ("2024.jpg", datetime(2024, 8, 9, 10, 11, 12)),
]
EXPECTED = ["2024.jpg", "2023-b.jpg", "2023-a.jpg", "2021.jpg", "2019.jpg", "undated-new.png", "undated-old.png"]


@pytest.fixture
def gallery(engine) -> ImageRepository:
    repository = ImageRepository(engine)
    for number, (name, taken_at) in enumerate(UPLOADS):
        record = repository.insert(NewImage(f"uploads/{number}.jpg", name, "image/jpeg", 1, 1, 1, f"{number:064x}"))
        with engine.begin() as conn:
            conn.execute(images.update().where(images.c.id == record.id).values(taken_at=taken_at))
    return repository


@pytest.fixture
def client(client, gallery):
    """The signed-in client of conftest, over the gallery above."""
    return client


def walk(client, limit: int, extra: str = "") -> list[list[str]]:
    pages, cursor = [], None
    while True:
        query = f"/api/images?sort=taken&limit={limit}{extra}" + (f"&cursor={cursor}" if cursor else "")
        answer = client.get(query).get_json()
        pages.append([image["filename"] for image in answer["images"]])
        cursor = answer["next_cursor"]
        if cursor is None:
            return pages


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 48])
def test_pages_by_date_taken_cover_every_image_once_in_order(client, limit):
    pages = walk(client, limit)
    assert [name for page in pages for name in page] == EXPECTED
    assert all(len(page) == limit for page in pages[:-1])


def test_taken_dates_appear_in_the_api_as_camera_local_time(client):
    first = client.get("/api/images?sort=taken&limit=1").get_json()["images"][0]
    assert first["taken_at"] == "2024-08-09T10:11:12"


def test_the_gallery_page_sorts_by_date_taken_and_keeps_the_sort_in_its_links(client):
    html = client.get("/gallery?sort=taken&limit=2").get_data(as_text=True)
    assert html.index("2024.jpg") < html.index("2023-b.jpg")
    assert '<option value="taken" selected>' in html
    assert 'rel="next" id="older" href="/gallery?cursor=' in html and "sort=taken" in html


def test_a_cursor_only_continues_the_sort_it_was_made_for(client):
    answer = client.get(f"/api/images?sort=taken&cursor={encode_cursor(3)}")
    assert answer.status_code == 400
    assert "not valid for sort=taken" in answer.get_json()["error"]
    assert client.get("/api/images?sort=shuffled").status_code == 400


def test_sort_by_taken_combines_with_search(client):
    assert walk(client, 2, "&q=2023") == [["2023-b.jpg", "2023-a.jpg"]]


def names(records) -> list[str]:
    return [record.filename for record in records]


def test_a_page_by_date_taken_holds_at_most_its_limit_before_and_after_the_undated(gallery):
    assert names(gallery.page_by_taken(limit=3)) == EXPECTED[:3], "dated images only"
    assert names(gallery.page_by_taken(limit=6)) == EXPECTED[:6], "the five dated and one undated"
    assert names(gallery.page_by_taken(limit=48)) == EXPECTED


def test_sort_by_taken_combines_with_the_status_filter(engine, gallery):
    with engine.begin() as conn:
        conn.execute(
            images.update()
            .where(images.c.filename.in_(["2023-a.jpg", "undated-new.png"]))
            .values(thumbnail_status="completed", caption_status="completed")
        )
    completed = ["2023-a.jpg", "undated-new.png"]
    assert names(gallery.page_by_taken(status=JobState.COMPLETED)) == completed
    assert names(gallery.page_by_taken(status=JobState.PROCESSING)) == [n for n in EXPECTED if n not in completed]


def test_a_page_the_dated_images_fill_is_read_with_one_query(engine, gallery):
    statements = []

    def keep(_conn, _cursor, statement, *_):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", keep)
    page = gallery.page_by_taken(limit=5)
    sa.event.remove(engine, "before_cursor_execute", keep)
    assert names(page) == EXPECTED[:5]
    assert len(statements) == 1, statements


def many_rows(engine, count: int) -> None:
    """`count` more images, two in three with a date taken, and fresh statistics for the planner."""
    now = datetime(2026, 1, 1)
    rows = [
        {
            "original_key": f"uploads/bulk-{n}.jpg",
            "filename": f"bulk-{n}.jpg",
            "mime_type": "image/jpeg",
            "size_bytes": 1,
            "width": 1,
            "height": 1,
            "sha256": f"b{n:063x}",
            "uploaded_at": now,
            "updated_at": now,
            "taken_at": datetime(2000 + n % 25, 1 + n % 12, 1 + n % 28) if n % 3 else None,
        }
        for n in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(images.insert(), rows)
        conn.exec_driver_sql("ANALYZE TABLE images" if engine.dialect.name == "mysql" else "ANALYZE")


def test_both_parts_of_a_page_by_date_taken_are_read_from_the_index(engine, gallery):
    many_rows(engine, 3000)
    statements = []

    def keep(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    position = TakenPosition(datetime(2000, 1, 2), 10**6)  # near the end of the dated ones
    gallery.page_by_taken(after=position, limit=48)  # a few dated, then undated: both queries run
    sa.event.remove(engine, "before_cursor_execute", keep)
    assert len(statements) == 2
    with engine.connect() as conn:
        for statement, parameters in statements:
            if engine.dialect.name == "sqlite":
                plan = " ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
                assert "ix_images_taken_at" in plan and "TEMP B-TREE" not in plan, plan
            else:
                rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).mappings().all()
                assert rows[0]["key"] == "ix_images_taken_at" and "filesort" not in (rows[0]["Extra"] or ""), rows
