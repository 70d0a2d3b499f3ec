"""Every setting of the cluster, read from the environment, with defaults that work out of the box.

Celery loads this module with ``app.config_from_object("worker.config")``; the producer
and the tests read the same names, so the broker URL is written down exactly once.
Lower-case names are Celery settings; upper-case ones are this project's own.
"""

from __future__ import annotations

import math
import os
import socket
import ssl
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from worker.errors import SettingError
from worker.local_state import local_urls as _local_urls  # standard library only
from worker.roles import ROLES  # standard library only
from worker.urls import redis_url, with_db

#: Where compose mounts each role's password (docker-compose.yml's `secrets` volume).
COMPOSE_SECRETS = "/run/secrets/"
#: The clone's .env, which `docker compose` reads. A process of the clone on the host (the
#: producer, `producer status`) reads it too, as compose does, so a setting put there
#: (REDIS_PORT, WORKER_WAIT, ...) reaches both. No image holds one (.dockerignore).
DOTENV = Path(__file__).resolve().parent.parent / ".env"


def read_dotenv(dotenv: Path = DOTENV) -> dict[str, str]:
    """NAME -> value of each `NAME=value` line (quotes and blanks stripped, comments skipped); {} without a file."""
    try:
        text = dotenv.read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()  # compose reads `export NAME=value` too
        if sep and key and not line.lstrip().startswith("#"):
            found[key] = value.strip().strip("'\"")
    return found


def lookup(name: str, environ: Mapping[str, str], dotenv: Mapping[str, str]) -> str:
    """A variable as compose sees it (pure): the environment's, else the .env's, else "". A name the
    environment holds, even blank, is the environment's: a blank one clears the .env's (as the local
    cluster does for the workers it starts with URLs of their own)."""
    return (environ[name] if name in environ else dotenv.get(name, "")).strip()


_DOTENV_VALUES = read_dotenv()


def _raw(name: str) -> str | None:
    """The variable's value (`lookup`: the environment, else the clone's .env), or the content of
    the file NAME_FILE names (for secrets)."""
    value = lookup(name, os.environ, _DOTENV_VALUES)
    if value:
        return value
    path = lookup(f"{name}_FILE", os.environ, _DOTENV_VALUES)
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            # compose's secrets volume, filled by the cluster's first `up` (a `run` starts nothing)
            hint = ("; the cluster's first `docker compose up -d --wait` makes it"
                    if isinstance(exc, FileNotFoundError) and path.startswith(COMPOSE_SECRETS) else "")
            raise SettingError(f"{name}_FILE={path}: cannot read it ({exc.strerror}){hint}") from None
    return None


def _int(name: str, default: int, minimum: int = 1) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise SettingError(f"{name}={value!r}: must be a whole number of at least {minimum}")
    return number


def _float(name: str, default: float, zero_ok: bool = False) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and (number > 0 or (zero_ok and number == 0))):
        raise SettingError(f"{name}={value!r}: must be a number of seconds {'of at least' if zero_ok else 'above'} 0")
    return number


def owner_secret(name: str) -> str | None:
    """A password from the owner's folder (SECRETS_DIR), which compose's `secrets` service fills
    on the first `up`: the host's producer needs no variable. None if there is none to read."""
    try:
        return (SECRETS_DIR / name).read_text().strip() or None
    except OSError:  # no cluster made its secrets here (yet), or they are not ours to read
        return None


def _redis_urls() -> tuple[str, str]:
    """Broker and result backend URLs: BROKER_URL / RESULT_BACKEND if set, else built from
    REDIS_HOST, REDIS_PORT, REDIS_USER and REDIS_PASSWORD, whose defaults are compose's, so the
    host's producer finds a compose cluster with no variable set."""
    broker = _raw("BROKER_URL")
    backend = _raw("RESULT_BACKEND")
    # With no Redis named at all, the cluster `producer local up` recorded, if its Redis
    # runs: the producer and `celery -A worker ...` find it from any shell.
    if local := _local_urls():
        return local
    if broker is None:
        if REDIS_USER not in ROLES:  # the URL is built for one of the cluster's own users
            raise SettingError(f"REDIS_USER={REDIS_USER!r}: not a user of this cluster; one of "
                               f"{', '.join(sorted(ROLES))} (or set BROKER_URL and RESULT_BACKEND)")
        host = _raw("REDIS_HOST") or "localhost"
        port = _int("REDIS_PORT", 6379)
        password = _raw("REDIS_PASSWORD") or owner_secret(f"redis-{REDIS_USER}") or ""
        # TLS (rediss://) when there is a CA: the server's certificate checked against it
        broker = redis_url(host, port, 0, REDIS_USER, password, tls_ca_file=REDIS_TLS_CA_FILE)
    for name, url in (("BROKER_URL", broker), ("RESULT_BACKEND", backend)):
        if url is not None and urlsplit(url).scheme not in ("redis", "rediss"):
            raise SettingError(f"{name}: must be a redis:// or rediss:// URL")
    return broker, backend or with_db(broker, 1)


# --- where Redis is -------------------------------------------------------------------
#: A CA certificate: talk to Redis over TLS (rediss://) and check its certificate with it.
#: For workers on other hosts (compose.worker.yml, docs/beyond-one-machine.md).
REDIS_TLS_CA_FILE = _raw("REDIS_TLS_CA_FILE")
if REDIS_TLS_CA_FILE and not Path(REDIS_TLS_CA_FILE).is_file():
    raise SettingError(f"REDIS_TLS_CA_FILE={REDIS_TLS_CA_FILE}: no such file")

#: The owner's folder of passwords, a file per role (worker/roles.py), made by the first
#: `docker compose up` (SECURITY.md): the clone's secrets.local unless said otherwise.
SECRETS_DIR = Path(_raw("SECRETS_DIR") or Path(__file__).resolve().parent.parent / "secrets.local")

#: The Redis user this process logs in as: its role (worker/roles.py). Each compose service
#: sets its own; a shell on the host is the producer.
REDIS_USER = _raw("REDIS_USER") or "producer"
if not REDIS_USER.isidentifier():
    raise SettingError(f"REDIS_USER={REDIS_USER!r}: must be a role's name, e.g. producer or worker")

# Jobs travel through db 0 and results through db 1, so `redis-cli -n 0 llen jobs` shows
# only the queue.
broker_url, result_backend = _redis_urls()
if REDIS_TLS_CA_FILE:  # what kombu and the result backend hand to ssl, beside the URL's query
    broker_use_ssl = redis_backend_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": REDIS_TLS_CA_FILE}

#: The queue task1/task2 go to; each worker flavour consumes its own (QUEUE-threads, ...).
QUEUE = _raw("QUEUE") or "jobs"
task_default_queue = QUEUE

# --- safety -----------------------------------------------------------------------------
# JSON only: a pickle payload pushed into Redis by anyone who can reach it would run code.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

# A job is acknowledged only after it ran, so a worker that dies mid-job leaves it in Redis
# to be redelivered, and a child process killed under it requeues it at once instead of
# marking it failed. Cost: a job may run twice, so tasks must be safe to run twice (ours are).
# Measured (500 no-op jobs, one worker): acknowledging early ran 1.35x the jobs/s (noisy,
# 157-237 jobs/s): the price of not losing a job, kept.
task_acks_late = True
task_reject_on_worker_lost = True

#: Seconds until Redis hands an unacknowledged job to another worker: the backstop. The
#: recovery service (`python -m recovery`) puts a dead worker's jobs back within
#: RECOVERY_SILENCE seconds; this timeout only matters when that service is not running.
#: It must stay above the longest job (MAX_DURATION_S, 3600 s): a job still running past it
#: is handed out a second time and runs twice.
VISIBILITY_TIMEOUT = _int("VISIBILITY_TIMEOUT", 3600)
#: Seconds a command may wait for Redis's answer, and a half-open connection may live: a
#: worker whose host was cut off, or whose Redis vanished without closing the connection,
#: finds out within this and reconnects, instead of after the kernel's 15 minutes of
#: retransmissions (measured: 962 s). Larger than any single command takes (BRPOP asks
#: for 1 s at a time).
SOCKET_TIMEOUT_S = _float("REDIS_SOCKET_TIMEOUT", 10.0)
#: TCP keepalive on every connection to Redis: probes after 5 s idle, every 2 s, 3 tries;
#: TCP_USER_TIMEOUT bounds data sent and never acknowledged the same way (Linux only).
KEEPALIVE_OPTIONS = {
    option: value
    for option, value in ((getattr(socket, "TCP_KEEPIDLE", None), 5), (getattr(socket, "TCP_KEEPINTVL", None), 2),
                          (getattr(socket, "TCP_KEEPCNT", None), 3),
                          (getattr(socket, "TCP_USER_TIMEOUT", None), int(SOCKET_TIMEOUT_S * 1000)))
    if option is not None
}
broker_transport_options = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    # How often workers look for such jobs. kombu's default sweep runs every 10 s x 10
    # (interval x throttle): up to 100 s more on top of the visibility timeout.
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    "socket_timeout": SOCKET_TIMEOUT_S,
    "socket_keepalive": True,
    "socket_keepalive_options": KEEPALIVE_OPTIONS,
    # kombu drops a BRPOP whose reply is overdue by brpop_timeout (1 s) + this, and pings a
    # connection idle this long before using it: a dead one is seen in seconds (default 25).
    "health_check_interval": 5,
}
if REDIS_USER == "flower":
    # Flower may write no job (worker/roles.py), yet kombu's sweep runs in every consumer, its
    # reply lists included: pushed out of reach, it never tries to put a job back. The workers do.
    broker_transport_options["visibility_timeout"] = 100 * 365 * 86400
result_backend_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT}
# The same bound on the results database (Celery's default waits 120 s per command).
redis_socket_timeout = SOCKET_TIMEOUT_S
redis_socket_keepalive = True

# --- spreading jobs over workers -------------------------------------------------------
# Each worker process reserves one job at a time. With the default (4), the first worker
# to start would hoard the first jobs while the others sat idle: no parallelism to see.
# Measured (benchmark, local, 4 x 0.2 s on 2 workers): efficiency 0.92 here, 0.65 for bare
# Celery with the default 4, whose first worker took three of the four jobs.
#: WORKER_PREFETCH: jobs each process reserves; more than 1 trades that picture for fewer
#: idle gaps with very short jobs (and a worker that loses Redis drops what it reserved).
worker_prefetch_multiplier = _int("WORKER_PREFETCH", 1)
# Celery 5.6+ can fetch a job only when a pool process is free (Redis only); that is what
# prefetch 1 already gives one-process workers, and it cost here: 500 no-op jobs on one
# worker ran at 0.69x the jobs/s of this setting left off (3 interleaved runs, medians).
worker_disable_prefetch = False

#: Processes per worker container. 1 makes "workers" = containers = parallel slots.
worker_concurrency = _int("WORKER_CONCURRENCY", 1)

# --- results ---------------------------------------------------------------------------
#: Seconds a result stays in Redis: long enough to read it, short enough not to pile up.
result_expires = _int("RESULT_EXPIRES", 3600)

# --- monitoring ------------------------------------------------------------------------
# Flower shows tasks live only from events: workers send task events, the producer sends
# task-sent, so a queued job shows up before a worker takes it. Cost, measured (500 no-op
# jobs, one worker, 3 interleaved runs): 4 PUBLISH per job of 21 Redis commands, 1.2 of
# 3.3 ms of worker CPU per job; 1.40x the jobs/s without them. The producer's task-sent
# events ride in its submit pipeline, so they cost no round trip (producer.submit).
worker_send_task_events = True
task_send_sent_event = True

# --- connecting ------------------------------------------------------------------------
#: Seconds to wait for Redis to answer before calling it unreachable.
BROKER_TIMEOUT = _float("BROKER_TIMEOUT", 3.0)
broker_connection_timeout = BROKER_TIMEOUT
broker_connection_retry_on_startup = True  # workers wait for Redis instead of exiting
redis_socket_connect_timeout = BROKER_TIMEOUT
# A worker that finishes a job while Redis restarts retries storing the result (backing off
# up to 10 s between tries) instead of failing a job that succeeded.
result_backend_always_retry = True
result_backend_max_retries = 30
# When the broker connection drops, the worker puts its unacknowledged jobs back in the
# queue; cancel the copies still running, so each job runs once, not twice (Celery 6's default).
worker_cancel_long_running_tasks_on_connection_loss = True
#: Celery's consumer, which marks the runs of the jobs it drops as it loses Redis (worker.tasks).
worker_consumer = "worker.tasks:JobConsumer"
# The producer's result listener pings Redis this often, so it notices a restart and
# reconnects instead of waiting on a dead socket.
redis_backend_health_check_interval = 10

#: Seconds the producer waits for a first worker on its queue before giving up: enough for
#: `docker compose up -d` typed just before `docker compose run producer`.
WORKER_WAIT = _float("WORKER_WAIT", 15.0, zero_ok=True)

#: File the worker touches on every event heartbeat; the container's healthcheck reads
#: its age. Cheaper than `celery inspect ping`, which starts a Python process each time.
HEALTH_FILE = _raw("HEALTH_FILE") or "/tmp/worker.alive"

# --- recovery (recovery/service.py) ----------------------------------------------------
#: Seconds without a heartbeat (sent every 2 s) after which the recovery service checks
#: whether a worker is gone: 3 missed heartbeats. Celery's own `alive` allows 4 s; a wrong
#: "dead" costs a job run twice, 2 s more cost nothing, so the service waits a little longer.
RECOVERY_SILENCE = _float("RECOVERY_SILENCE", 6.0)
#: Times a job may take its worker down (segfault, OOM, os._exit) before it is failed
#: instead of handed out again.
RECOVERY_MAX_DEATHS = _int("RECOVERY_MAX_DEATHS", 3)
#: File the recovery service touches while it follows the cluster's events (its healthcheck).
RECOVERY_HEALTH_FILE = _raw("RECOVERY_HEALTH_FILE") or "/tmp/recovery.alive"
#: Each worker names its Redis connections PREFIX<node>/<pid>, so the recovery service can
#: tell a worker that is gone (its connections closed with it) from one that is only
#: silent (a job blocking its loop, a paused container): only the first loses its jobs.
WORKER_CLIENT_PREFIX = "celery-worker:"

# --- where this process runs ------------------------------------------------------------
#: Set by the Dockerfile: this process runs in the project's image, which holds no optional
#: extra (no matplotlib), and where a file written outside a folder mounted from the host
#: goes when the container does (the producer says so, producer/where.py).
IN_IMAGE = _raw("IN_PROJECT_IMAGE") == "1"
#: A folder mounted from the host for the producer's files, and the host's name for it
#: (compose's producer service: /out, the clone's ./out), so it says where a file it wrote is.
OUTPUT_DIR = _raw("OUTPUT_DIR")
OUTPUT_DIR_ON_HOST = _raw("OUTPUT_DIR_ON_HOST")

timezone = "UTC"
enable_utc = True

# --- junk on a queue ---------------------------------------------------------------------
# kombu's Redis transport, except that a message that cannot be a job (not JSON, not a
# Celery task message) is set aside in `<queue>.dead` instead of crashing the worker
# (worker/transport.py). The URL keeps its redis:// or rediss:// scheme.
broker_transport = "worker.transport:Transport"
if urlsplit(broker_url).scheme == "rediss" and not REDIS_TLS_CA_FILE:
    # kombu turns TLS on from the URL's scheme only for its own transport names: say it here,
    # with the certificate checked against the system's CAs.
    broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
