"""Gunicorn settings for the web app, in the container and for `make run`.

Environment (and `.env`, as the app reads it): PORT (default 5000), BIND_HOST (default 127.0.0.1, so
`make run` serves this machine only; the container sets 0.0.0.0; the app reads the same variable and
refuses AUTH_MODE=public off loopback, so bind with BIND_HOST rather than `-b`), WEB_CONCURRENCY worker processes
(default 2), GUNICORN_THREADS threads per worker (default 4). Command-line flags and GUNICORN_CMD_ARGS
override this file.

In embedded mode (no S3 buckets set) the master starts exactly one job worker process beside the web
workers, however many there are, and stops it on exit.
"""

import os

from dotenv import find_dotenv, load_dotenv

load_dotenv(find_dotenv(usecwd=True), override=False)

bind = f"{os.environ.get('BIND_HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
# Longer than the load balancer's 60 s idle timeout, so the ALB never reuses a connection that
# gunicorn has just closed (which shows up as sporadic 502s).
keepalive = 75

# One line per request on stdout, errors on stderr: Docker's awslogs driver ships both.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Whose X-Forwarded-Proto to believe. On EC2 the load balancer is the only source the security group
# admits, so stack 04 sets FORWARDED_ALLOW_IPS=*; elsewhere only a proxy on this machine is trusted.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Worker heartbeats on tmpfs: a slow overlay filesystem must not make healthy workers look hung.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# No runtime control socket (gunicorn >= 25): nothing here uses gunicornc, and the container user has
# no writable home for it. Older gunicorn ignores the unknown name.
control_socket_disable = True


def when_ready(server):
    from annotation_core.settings import load_settings
    from web_app.worker_process import start_beside_gunicorn

    server.job_worker = start_beside_gunicorn(load_settings())


def post_fork(server, worker):
    # Before the worker starts its threads: memory freed after each upload's image goes back to the system.
    from annotation_core.allocator import tune_malloc

    tune_malloc(return_freed_memory=True)


def on_exit(server):
    from web_app.worker_process import stop

    stop(getattr(server, "job_worker", None))
