"""`make run`'s server for real: gunicorn with its config, several web processes and exactly one job worker
beside them, over HTTP on 127.0.0.1."""

from __future__ import annotations

import http.cookiejar
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from benchmarks.app_server import descendants, free_port, processes
from tests import images

ROOT = Path(__file__).resolve().parents[2]


MADE_UP = re.compile(r"Created the admin account 'admin' with the password (\S+) \(shown only this once\)")


def collect(stream, lines: list[str]) -> None:
    """Keep the server's output (read on a thread, so a full pipe never blocks it)."""
    for raw in iter(stream.readline, b""):
        lines.append(raw.decode(errors="replace"))


@pytest.fixture
def server(tmp_path, fake_gemini):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "GEMINI_API_KEY": "server-key",
        "GEMINI_BASE_URL": fake_gemini.base_url,
        "WEB_CONCURRENCY": "3",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),  # as at the root, whether or not the project is pip-installed
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "-c", str(ROOT / "web_app" / "gunicorn.conf.py"), "web_app.app:create_app()"],
        cwd=tmp_path,  # no .env of the developer's leaks in
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output: list[str] = []
    reader = threading.Thread(target=collect, args=(process.stdout, output), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as response:
                assert json.load(response) == {"status": "ok"}
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("gunicorn did not start:\n" + "".join(output))
            time.sleep(0.2)
    yield base, output
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    reader.join(timeout=5)
    process.stdout.close()


def test_one_job_worker_runs_beside_several_web_workers_and_stops_with_them(tmp_path, fake_gemini):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "WEB_CONCURRENCY": "3",
        "PYTHONPATH": str(ROOT),
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    master = subprocess.Popen(
        [str(gunicorn), "-c", str(ROOT / "web_app" / "gunicorn.conf.py"), "web_app.app:create_app()"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            tree = descendants(master.pid)
            web = [pid for pid, command in tree.items() if "gunicorn" in command]
            if len(web) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        workers = [pid for pid, command in tree.items() if "lambda_functions.local_worker" in command]
        doing_jobs = [pid for pid in workers if "--no-supervisor" in tree[pid]]
        assert len(web) == 3, tree
        assert len(doing_jobs) == 1, tree  # and its supervisor: two processes, one of them doing the jobs
        assert len(workers) == 2, tree
    finally:
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=60) == 0
    time.sleep(0.5)
    assert not set(workers) & set(processes()), "the worker stops with gunicorn"


def form_token(opener, url: str) -> str:
    page = opener.open(url, timeout=10).read().decode()
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def post_form(opener, url: str, fields: dict[str, str]) -> str:
    """Post a form; the URL the answer (after redirects) came from."""
    data = urllib.parse.urlencode(fields).encode()
    with opener.open(urllib.request.Request(url, data=data), timeout=10) as response:
        return response.url


def test_first_start_logs_the_admin_password_once_and_it_signs_in(server, fake_gemini):
    server, output = server
    deadline = time.monotonic() + 10
    while not MADE_UP.search("".join(output)) and time.monotonic() < deadline:
        time.sleep(0.1)
    found = MADE_UP.findall("".join(output))
    assert len(found) == 1, "".join(output)  # once, though three web processes started
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    token = form_token(opener, f"{server}/login")
    landed = post_form(opener, f"{server}/login", {"username": "admin", "password": found[0], "csrf_token": token})
    assert landed.endswith("/settings"), "a made-up password must be replaced first"


def test_upload_over_http_is_processed_by_the_server_worker(server, fake_gemini):
    server, output = server
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    deadline = time.monotonic() + 10
    while not MADE_UP.search("".join(output)) and time.monotonic() < deadline:
        time.sleep(0.1)
    made_up = MADE_UP.search("".join(output)).group(1)
    login = {"username": "admin", "password": made_up, "csrf_token": form_token(opener, f"{server}/login")}
    post_form(opener, f"{server}/login", login)
    new_password = {"current_password": made_up, "new_password": "the-admins-own", "repeat_password": "the-admins-own"}
    post_form(opener, f"{server}/settings/password", {**new_password, "csrf_token": form_token(opener, f"{server}/")})
    token = form_token(opener, f"{server}/")
    photo = images.noisy_jpeg((4000, 3000))  # 12 megapixels
    boundary, body = encode_multipart(MultiDict([("file", FileStorage(io.BytesIO(photo), "big.jpg"))]))
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"}
    headers["X-CSRFToken"] = token

    started = time.monotonic()
    with opener.open(urllib.request.Request(f"{server}/upload", data=body, headers=headers), timeout=30) as response:
        assert response.status == 202
        status_url = json.load(response)["images"][0]["status_url"]
    while time.monotonic() - started < 30:
        with opener.open(f"{server}{status_url}", timeout=10) as response:
            status = json.load(response)
        if status["status"] != "processing":
            break
        time.sleep(0.05)

    assert status["status"] == "completed", status
    assert status["caption"] == "A small red rectangle."
    assert (status["width"], status["height"]) == (4000, 3000)
    with opener.open(f"{server}{status['thumbnail_url']}", timeout=10) as response:
        assert response.headers["Content-Type"] == "image/webp"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
