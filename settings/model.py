"""The settings of every part of the cluster: one frozen object, loaded once, that alone decides where Redis is.

`load(environ, dotenv)` reads every variable (settings.environment: the environment, else the
clone's .env, else NAME_FILE) and checks it, refusing a bad one with one SettingError that
names it; `current()` is this process's, loaded on first use, so importing any module reads
nothing and raises nothing. Each entry point asks for `current()` before it does any work
(the workers through the `celery` command's check, worker/__init__.py) and turns a refusal
into one line and a non-zero exit. Celery's configuration is generated from it (worker/config.py).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from settings.environment import Reader, SettingError, lookup, read_dotenv, variable
from settings.local_state import DIR_VARIABLE, local_urls, state_dir
from settings.urls import redis_url, with_db

#: The clone's own folder of passwords (SECRETS_DIR's default).
CLONE_SECRETS = Path(__file__).resolve().parent.parent / "secrets.local"

# --- where Redis is ----------------------------------------------------------------------
BROKER_URL = variable("BROKER_URL")
RESULT_BACKEND = variable("RESULT_BACKEND")
REDIS_HOST = variable("REDIS_HOST", "localhost")
REDIS_PORT = variable("REDIS_PORT", "6379")
REDIS_PASSWORD = variable("REDIS_PASSWORD")
REDIS_TLS_CA_FILE = variable("REDIS_TLS_CA_FILE")
SECRETS_DIR = variable("SECRETS_DIR")
REDIS_USER = variable("REDIS_USER", "producer")
QUEUE = variable("QUEUE", "jobs")
# --- the cluster's promises and bounds (worker/config.py says why each is what it is) --------
VISIBILITY_TIMEOUT = variable("VISIBILITY_TIMEOUT", "3600")
REDIS_SOCKET_TIMEOUT = variable("REDIS_SOCKET_TIMEOUT", "10")
WORKER_PREFETCH = variable("WORKER_PREFETCH", "1")
WORKER_CONCURRENCY = variable("WORKER_CONCURRENCY", "1")
RESULT_EXPIRES = variable("RESULT_EXPIRES", "3600")
BROKER_TIMEOUT = variable("BROKER_TIMEOUT", "3")
WORKER_WAIT = variable("WORKER_WAIT", "15")
HEALTH_FILE = variable("HEALTH_FILE", "/tmp/worker.alive")
# --- the recovery service ----------------------------------------------------------------
RECOVERY_SILENCE = variable("RECOVERY_SILENCE", "6")
RECOVERY_MAX_DEATHS = variable("RECOVERY_MAX_DEATHS", "3")
RECOVERY_HEALTH_FILE = variable("RECOVERY_HEALTH_FILE", "/tmp/recovery.alive")
# --- where this process runs ---------------------------------------------------------------
IN_PROJECT_IMAGE = variable("IN_PROJECT_IMAGE")
OUTPUT_DIR = variable("OUTPUT_DIR")
OUTPUT_DIR_ON_HOST = variable("OUTPUT_DIR_ON_HOST")
WORKER_LOGLEVEL = variable("WORKER_LOGLEVEL", "INFO")
LOCAL_CLUSTER_DIR = variable(DIR_VARIABLE)  # read by state_dir, with the user's runtime and cache folders
# --- Flower's login (worker/flowerconfig.py) -----------------------------------------------
FLOWER_USER = variable("FLOWER_USER", "admin")
FLOWER_PASSWORD_FILE = variable("FLOWER_PASSWORD_FILE")


@dataclass(frozen=True)
class Settings:
    """What every part is told. Defaults are the ones that work out of the box (compose's)."""

    #: Jobs travel through db 0 and results through db 1, so `redis-cli -n 0 llen jobs` shows only the queue.
    broker_url: str = "redis://producer:@localhost:6379/0"
    result_backend: str = "redis://producer:@localhost:6379/1"
    #: The Redis user this process logs in as: its role (settings/roles.py). Each compose service
    #: sets its own; a shell on the host is the producer.
    redis_user: str = "producer"
    #: A CA certificate: talk to Redis over TLS (rediss://) and check its certificate with it.
    #: For workers on other hosts (compose.worker.yml, docs/beyond-one-machine.md).
    redis_tls_ca_file: str | None = None
    #: The owner's folder of passwords, a file per role (settings/roles.py), made by the first
    #: `docker compose up` (SECURITY.md): the clone's secrets.local unless said otherwise.
    secrets_dir: Path = CLONE_SECRETS
    #: The queue task1/task2 go to; each worker flavour consumes its own (QUEUE-threads, ...).
    queue: str = "jobs"
    #: Seconds until Redis hands an unacknowledged job to another worker: the backstop (worker/config.py).
    visibility_timeout: int = 3600
    #: Seconds a command may wait for Redis's answer, and a half-open connection may live (worker/config.py).
    socket_timeout_s: float = 10.0
    #: WORKER_PREFETCH: jobs each worker process reserves (worker/config.py says why 1).
    worker_prefetch: int = 1
    #: Processes per worker container. 1 makes "workers" = containers = parallel slots.
    worker_concurrency: int = 1
    #: Seconds a result stays in Redis: long enough to read it, short enough not to pile up.
    result_expires: int = 3600
    #: Seconds to wait for Redis to answer before calling it unreachable.
    broker_timeout: float = 3.0
    #: Seconds the producer waits for a first worker on its queue before giving up: enough for
    #: `docker compose up -d` typed just before `docker compose run producer`.
    worker_wait: float = 15.0
    #: File the worker touches on every event heartbeat; the container's healthcheck reads its
    #: age. Cheaper than `celery inspect ping`, which starts a Python process each time.
    health_file: str = "/tmp/worker.alive"
    #: Seconds without a heartbeat (sent every 2 s) after which the recovery service checks
    #: whether a worker is gone: 3 missed heartbeats. Celery's own `alive` allows 4 s; a wrong
    #: "dead" costs a job run twice, 2 s more cost nothing, so the service waits a little longer.
    recovery_silence: float = 6.0
    #: Times a job may take its worker down (segfault, OOM, os._exit) before it is failed
    #: instead of handed out again.
    recovery_max_deaths: int = 3
    #: File the recovery service touches while it follows the cluster's events (its healthcheck).
    recovery_health_file: str = "/tmp/recovery.alive"
    #: Set by the Dockerfile: this process runs in the project's image, which holds no optional
    #: extra (no matplotlib), and where a file written outside a folder mounted from the host
    #: goes when the container does (the producer says so, producer/where.py).
    in_image: bool = False
    #: A folder mounted from the host for the producer's files, and the host's name for it
    #: (compose's producer service: /out, the clone's ./out), so it says where a file it wrote is.
    output_dir: str | None = None
    output_dir_on_host: str | None = None
    #: The log level of the workers `producer local up` starts.
    worker_loglevel: str = "INFO"
    #: The folder of `producer local up`'s cluster: its state, data and logs (LOCAL_CLUSTER_DIR,
    #: else the user's runtime or cache folder: settings/local_state.py).
    local_cluster_dir: Path = Path("local-cluster")
    #: Flower's login: its user, and the file that holds its password (on no command line).
    flower_user: str = "admin"
    flower_password_file: str | None = None

    def owner_secret(self, name: str) -> str | None:
        """A password from the owner's folder (SECRETS_DIR), which compose's `secrets` service fills
        on the first `up`: the host's producer needs no variable. None if there is none to read."""
        return owner_secret(self.secrets_dir, name)


def owner_secret(folder: Path, name: str) -> str | None:
    """The password file `name` in `folder`, stripped; None if it is missing, empty or not ours to read."""
    try:
        return (folder / name).read_text().strip() or None
    except OSError:  # no cluster made its secrets here (yet), or they are not ours to read
        return None


def load(environ: Mapping[str, str], dotenv: Mapping[str, str]) -> Settings:
    """Read and check every setting; the first refused raises SettingError naming it."""
    read = Reader(environ, dotenv)
    tls_ca_file = read.raw(REDIS_TLS_CA_FILE)
    if tls_ca_file and not Path(tls_ca_file).is_file():
        raise SettingError(f"REDIS_TLS_CA_FILE={tls_ca_file}: no such file")
    secrets_dir = Path(read.raw(SECRETS_DIR) or CLONE_SECRETS)
    user = read.text(REDIS_USER)
    if not user.isidentifier():
        raise SettingError(f"REDIS_USER={user!r}: must be a role's name, e.g. producer or worker")
    broker, backend = redis_urls(read, environ, user, secrets_dir, tls_ca_file)
    return Settings(
        broker_url=broker, result_backend=backend, redis_user=user, redis_tls_ca_file=tls_ca_file,
        secrets_dir=secrets_dir, queue=read.text(QUEUE),
        visibility_timeout=read.whole(VISIBILITY_TIMEOUT), socket_timeout_s=read.seconds(REDIS_SOCKET_TIMEOUT),
        worker_prefetch=read.whole(WORKER_PREFETCH), worker_concurrency=read.whole(WORKER_CONCURRENCY),
        result_expires=read.whole(RESULT_EXPIRES), broker_timeout=read.seconds(BROKER_TIMEOUT),
        worker_wait=read.seconds(WORKER_WAIT, zero_ok=True), health_file=read.text(HEALTH_FILE),
        recovery_silence=read.seconds(RECOVERY_SILENCE), recovery_max_deaths=read.whole(RECOVERY_MAX_DEATHS),
        recovery_health_file=read.text(RECOVERY_HEALTH_FILE), in_image=read.raw(IN_PROJECT_IMAGE) == "1",
        output_dir=read.raw(OUTPUT_DIR), output_dir_on_host=read.raw(OUTPUT_DIR_ON_HOST),
        worker_loglevel=read.text(WORKER_LOGLEVEL), local_cluster_dir=state_dir(environ),
        flower_user=read.text(FLOWER_USER),
        flower_password_file=lookup(FLOWER_PASSWORD_FILE.name, environ, dotenv) or None)


def redis_urls(read: Reader, environ: Mapping[str, str], user: str, secrets_dir: Path,
               tls_ca_file: str | None) -> tuple[str, str]:
    """Broker and result backend URLs: BROKER_URL / RESULT_BACKEND if set, else built from
    REDIS_HOST, REDIS_PORT, REDIS_USER and REDIS_PASSWORD, whose defaults are compose's, so the
    host's producer finds a compose cluster with no variable set. With no Redis named in the
    environment at all, the cluster `producer local up` recorded, if its Redis runs: the
    producer and `celery -A worker ...` find it from any shell."""
    # Imported here, not on top: `python -m settings.roles` (compose's secrets service) runs that
    # module as __main__, and runpy warns on stderr when the package's import already loaded it.
    from settings.roles import ROLES

    broker = read.raw(BROKER_URL)
    backend = read.raw(RESULT_BACKEND)
    if local := local_urls(environ):
        return local
    if broker is None:
        if user not in ROLES:  # the URL is built for one of the cluster's own users
            raise SettingError(f"REDIS_USER={user!r}: not a user of this cluster; one of "
                               f"{', '.join(sorted(ROLES))} (or set BROKER_URL and RESULT_BACKEND)")
        host = read.text(REDIS_HOST)
        port = read.whole(REDIS_PORT)
        password = read.raw(REDIS_PASSWORD) or owner_secret(secrets_dir, f"redis-{user}") or ""
        # TLS (rediss://) when there is a CA: the server's certificate checked against it
        broker = redis_url(host, port, 0, user, password, tls_ca_file=tls_ca_file)
    for name, url in (("BROKER_URL", broker), ("RESULT_BACKEND", backend)):
        if url is not None and urlsplit(url).scheme not in ("redis", "rediss"):
            raise SettingError(f"{name}: must be a redis:// or rediss:// URL")
    return broker, backend or with_db(broker, 1)


@functools.cache
def current() -> Settings:
    """This process's settings, loaded from its environment and the clone's .env on first use."""
    return load(os.environ, read_dotenv())
