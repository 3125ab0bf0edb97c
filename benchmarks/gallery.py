"""`gallery`: pages, searches, status filter and batch status over a million rows on SQLite and on MariaDB,
served by the Flask app to a signed-in browser, against the newest page's SQL through the bare driver."""

from __future__ import annotations

import itertools
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from annotation_core.bootstrap import Services
from benchmarks.gallery_data import COMMON_WORD, RARE_WORD, TAG_WORD
from benchmarks.gallery_databases import BENCH_ADMIN, mysql_services, mysql_url, sqlite_services
from benchmarks.report import Report
from benchmarks.timing import measure, ratio
from web_app.app import create_app
from web_app.listing import encode_cursor

PAGE = 48
REFERENCE = "bare driver: newest page SQL (ref)"
# Server time p95 (ms), rendering included: the targets per database and kind of request.
TARGETS = {"sqlite": {"page": 5, "search": 10, "status": 2}, "mysql": {"page": 10, "search": 50}}
KINDS = {
    "GET /gallery (first page)": "page",
    "GET /gallery?cursor=<id N/2> (deep page)": "page",
    "GET /gallery?status=failed": "page",
    f"GET /gallery?q={COMMON_WORD} (common word)": "search",
    f"GET /gallery?q={RARE_WORD} (rare word)": "search",
    f"GET /gallery?q={TAG_WORD} (tag)": "search",
    "GET /api/image_status?ids=<48 ids>": "status",
    "GET /api/image_status/<id>": "status",
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def run(quick: bool) -> Report:
    count, rounds = (5_000, 10) if quick else (1_000_000, 200)
    report = Report(
        "gallery",
        f"gallery over {count:,} rows, signed in, rendered by Flask (SQLite and MariaDB) vs the bare driver",
        {"rows": count, "page": PAGE, "rounds": rounds},
    )
    with tempfile.TemporaryDirectory() as tmp:
        with sqlite_services(count, quick, Path(tmp)) as services:
            _measure_database(report, "sqlite", services, count, rounds)
        url = mysql_url()
        if url is None:
            report.notes.append("MariaDB not measured: TEST_MYSQL_URL is not set")
        else:
            report.params["mysql_database"] = f"{url.database}{'_quick' if quick else ''}"
            with mysql_services(url, count, quick, Path(tmp)) as services:
                _measure_database(report, "mysql", services, count, rounds)
    return report


def _measure_database(report: Report, name: str, services: Services, count: int, rounds: int) -> None:
    client = _signed_in(services)
    rng = random.Random(2)
    batches = itertools.cycle([",".join(map(str, rng.sample(range(1, count + 1), PAGE))) for _ in range(50)])
    live = "SELECT id FROM images WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 200"
    ids = itertools.cycle(_column(services.engine, live))
    urls: dict[str, Callable[[], str]] = {
        "GET /gallery (first page)": lambda: "/gallery",
        "GET /gallery?cursor=<id N/2> (deep page)": lambda: f"/gallery?cursor={encode_cursor(count // 2)}",
        "GET /gallery?status=failed": lambda: "/gallery?status=failed",
        f"GET /gallery?q={COMMON_WORD} (common word)": lambda: f"/gallery?q={COMMON_WORD}",
        f"GET /gallery?q={RARE_WORD} (rare word)": lambda: f"/gallery?q={RARE_WORD}",
        f"GET /gallery?q={TAG_WORD} (tag)": lambda: f"/gallery?q={TAG_WORD}",
        "GET /api/image_status?ids=<48 ids>": lambda: f"/api/image_status?ids={next(batches)}",
        "GET /api/image_status/<id>": lambda: f"/api/image_status/{next(ids)}",
    }
    newest = _statements(services.engine, lambda: services.repository.page(limit=PAGE + 1))[-1]
    raw = services.engine.raw_connection()
    cases = {REFERENCE: lambda: _run_raw(raw, *newest)}
    cases |= {case: _getter(client, url) for case, url in urls.items()}
    listings = {case: url for case, url in urls.items() if case.startswith("GET /gallery")}
    queries = {case: _image_statements(services.engine, client, url) for case, url in listings.items()}
    # The same requests' SQL alone, through the bare driver: what the database costs, apart from rendering.
    cases |= {f"{case}: its SQL alone": _run_all(raw, statements) for case, statements in queries.items()}
    stats = measure(cases, rounds, warmup=2, budget_s=60)
    raw.close()
    ref = stats[REFERENCE]
    for case, sample in stats.items():
        report.results[f"{name}: {case}"] = sample.as_dict()
        if case != REFERENCE and not case.endswith("SQL alone"):
            report.ratios[f"{name}: {case} / {REFERENCE}"] = ratio(sample, ref)
    for case in listings:
        report.ratios[f"{name}: {case}: its SQL alone / whole request"] = ratio(
            stats[f"{case}: its SQL alone"], stats[case]
        )
    for case, kind in KINDS.items():
        target = TARGETS[name].get(kind)
        if target is not None:
            p95 = stats[case].p95
            verdict = "met" if p95 <= target else "MISSED"
            report.checks[f"{name} {kind} p95 <= {target} ms: {case}"] = f"{verdict} ({p95:.1f} ms)"
    report.notes.append(
        f"{name}: a listing's 'SQL alone' replays its statements through the bare driver; the rest of the request "
        "is rendering (image_json, Jinja), the session and the machine's load"
    )
    for case, statements in queries.items():
        for sql, params in statements:
            report.notes.append(f"plan {name} {case}: {_plan(services.engine, sql, params)}")
    report.params[f"{name}_trashed_rows"] = _scalar(
        services.engine, "SELECT count(*) FROM images WHERE deleted_at IS NOT NULL"
    )


def _signed_in(services: Services):
    """A test client signed in through the form as an admin (who sees every image), as a browser would be."""
    client = create_app(services=services, run_worker=False).test_client()
    token = _CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post(
        "/login",
        data={
            "username": BENCH_ADMIN["admin_username"],
            "password": BENCH_ADMIN["admin_password"],
            "csrf_token": token,
        },
    )
    if answer.status_code != 302:
        raise RuntimeError(f"signing in failed: {answer.status_code}")
    return client


def _getter(client, url: Callable[[], str]) -> Callable[[], bytes]:
    def get() -> bytes:
        response = client.get(url())
        if response.status_code != 200:
            raise RuntimeError(f"{url()} answered {response.status_code}")
        return response.get_data()

    return get


def _statements(engine: sa.Engine, call: Callable[[], object]) -> list[tuple[str, object]]:
    """The SQL statements and parameters `call()` sends to the database, in order."""
    seen: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    return seen


def _image_statements(engine: sa.Engine, client, url: Callable[[], str]) -> list[tuple[str, object]]:
    """The statements one request sends that read images (not the session's account lookup)."""
    statements = _statements(engine, lambda: client.get(url()).get_data())
    return [(sql, params) for sql, params in statements if "FROM images" in sql]


def _run_all(raw, statements: list[tuple[str, object]]) -> Callable[[], None]:
    def run() -> None:
        for sql, params in statements:
            _run_raw(raw, sql, params)

    return run


def _run_raw(raw, sql: str, params) -> list:
    cursor = raw.cursor()
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    cursor.close()
    return rows


def _plan(engine: sa.Engine, sql: str, params) -> str:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (MariaDB) of one statement, on one line."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            return "; ".join(row[3] for row in rows)
        rows = conn.exec_driver_sql(f"EXPLAIN {sql}", params).mappings().all()
        return "; ".join(
            f"{row['table']} {row['type']} key={row['key']} rows={row['rows']} {row['Extra'] or ''}".strip()
            for row in rows
        )


def _column(engine: sa.Engine, sql: str) -> list[int]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(sql).scalars())


def _scalar(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar_one()
