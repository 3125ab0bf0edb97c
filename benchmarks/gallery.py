"""`gallery`: page, search, status and rendered gallery over N rows, against the same SQL on bare sqlite3."""

from __future__ import annotations

import itertools
import random
import sqlite3
import tempfile

import sqlalchemy as sa

from annotation_core.bootstrap import bootstrap
from annotation_core.database import database_url
from annotation_core.records import JobState
from annotation_core.settings import Settings
from benchmarks.gallery_data import COMMON_WORD as COMMON
from benchmarks.gallery_data import RARE_WORD as RARE
from benchmarks.gallery_data import fill
from benchmarks.report import Report
from benchmarks.timing import measure, ratio
from web_app.app import create_app

PAGE = 48
# DESIGN's form: the newest matches taken from the text index alone (ORDER BY rowid), then their rows.
FTS_NEWEST = (
    "SELECT images.* FROM images JOIN (SELECT rowid FROM images_fts WHERE images_fts MATCH ? "
    "ORDER BY rowid DESC LIMIT ?) AS hits ON images.id = hits.rowid ORDER BY images.id DESC"
)


def captured_sql(engine: sa.Engine, call) -> tuple[str, tuple]:
    """The last SQL statement and parameters `call()` sends to the database."""
    seen = []

    def keep(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    return seen[-1]


def run(quick: bool) -> Report:
    count, rounds, slow_rounds = (5_000, 30, 5) if quick else (200_000, 300, 40)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp, auth_mode="public")  # measures the pages, not signing in
        services = bootstrap(settings, migrate=True)
        fill(services.engine, count)
        # No local worker: its sweep would pick up the pending rows and change the data being measured.
        client = create_app(services=services, run_worker=False).test_client()
        repo, engine = services.repository, services.engine
        db = sqlite3.connect(database_url(settings).database, check_same_thread=False)
        newest = captured_sql(engine, lambda: repo.page(limit=PAGE))
        ids = itertools.cycle(random.Random(2).sample(range(1, count + 1), 1000))
        fast = {
            "sqlite3 newest page (ref)": lambda: db.execute(*newest).fetchall(),
            "page newest": lambda: repo.page(limit=PAGE),
            "page deep (before_id=N/2)": lambda: repo.page(before_id=count // 2, limit=PAGE),
            "find(id)": lambda: repo.find(next(ids)),
            "GET /api/image_status/<id>": lambda: client.get(f"/api/image_status/{next(ids)}").get_data(),
            "GET /gallery (rendered)": lambda: client.get("/gallery").get_data(),
            f"sqlite3 FTS rowid-ordered {COMMON}*": _fts_newest(db, f'"{COMMON}"*'),
            f"sqlite3 FTS rowid-ordered {COMMON}": _fts_newest(db, f'"{COMMON}"'),
            f"sqlite3 FTS rowid-ordered {RARE}*": _fts_newest(db, f'"{RARE}"*'),
            f"page query={RARE}": lambda: repo.page(query=RARE, limit=PAGE),
        }
        slow = {
            f"page query={COMMON}": lambda: repo.page(query=COMMON, limit=PAGE),
            "page status=failed": lambda: repo.page(status=JobState.FAILED, limit=PAGE),
        }
        stats = measure(fast, rounds, warmup=3, budget_s=20) | measure(slow, slow_rounds, budget_s=20)
        plans = {
            f"page(query={COMMON})": captured_sql(engine, slow[f"page query={COMMON}"]),
            "page(status=failed)": captured_sql(engine, slow["page status=failed"]),
            "FTS rowid-ordered": (FTS_NEWEST, (f'"{COMMON}"*', PAGE)),
        }
        plans = {
            name: "; ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for name, (sql, params) in plans.items()
        }
        params = {"rows": count, "page": PAGE, "failed_rows": _count(db, "images WHERE caption_status = 'failed'")}
        for word in (COMMON, RARE):
            params[f"matches_{word}"] = _count(db, f"images_fts WHERE images_fts MATCH '{word}'")
        db.close()
        services.close()
    return _report(params, stats, plans)


def _fts_newest(db: sqlite3.Connection, match: str):
    return lambda: db.execute(FTS_NEWEST, (match, PAGE)).fetchall()


def _count(db: sqlite3.Connection, source: str) -> int:
    return db.execute(f"SELECT count(*) FROM {source}").fetchone()[0]


def _report(params: dict, stats: dict, plans: dict[str, str]) -> Report:
    report = Report(
        "gallery", f"gallery over {params['rows']:,} rows (SQLite) vs the same SQL through bare sqlite3", params
    )
    report.results = {name: s.as_dict() for name, s in stats.items()}
    ref = stats["sqlite3 newest page (ref)"]
    for name in (
        "page newest",
        "page deep (before_id=N/2)",
        "find(id)",
        "GET /gallery (rendered)",
        "page status=failed",
    ):
        report.ratios[f"{name} / sqlite3 newest page"] = ratio(stats[name], ref)
    for word in (COMMON, RARE):
        report.ratios[f"page query={word} / sqlite3 FTS rowid-ordered {word}*"] = ratio(
            stats[f"page query={word}"], stats[f"sqlite3 FTS rowid-ordered {word}*"]
        )
    report.ratios[f"FTS prefix {COMMON}* / exact {COMMON}"] = ratio(
        stats[f"sqlite3 FTS rowid-ordered {COMMON}*"], stats[f"sqlite3 FTS rowid-ordered {COMMON}"]
    )
    search = report.ratios[f"page query={COMMON} / sqlite3 FTS rowid-ordered {COMMON}*"]
    report.checks["search for a common word within 3x of the rowid-ordered FTS form"] = (
        "PASS" if search <= 3 else "FAIL"
    )
    report.notes += [f"plan {name}: {plan}" for name, plan in plans.items()]
    return report
