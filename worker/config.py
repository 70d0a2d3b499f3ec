"""Celery's configuration of the cluster, generated from the settings (settings.model).

`worker/__init__.py` hands `celery_config(current())` to Celery as a promise, so nothing is
read until Celery first needs its configuration, and importing the app reads nothing. Each
key is a Celery setting; the comments say why each value is what it is, with what it cost.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from settings import Settings

#: Each worker names its Redis connections PREFIX<node>/<pid>, so the recovery service can
#: tell a worker that is gone (its connections closed with it) from one that is only
#: silent (a job blocking its loop, a paused container): only the first loses its jobs.
WORKER_CLIENT_PREFIX = "celery-worker:"


def keepalive_options(socket_timeout_s: float) -> dict[int, int]:
    """TCP keepalive on every connection to Redis: probes after 5 s idle, every 2 s, 3 tries;
    TCP_USER_TIMEOUT bounds data sent and never acknowledged the same way (Linux only)."""
    wanted = ((getattr(socket, "TCP_KEEPIDLE", None), 5), (getattr(socket, "TCP_KEEPINTVL", None), 2),
              (getattr(socket, "TCP_KEEPCNT", None), 3),
              (getattr(socket, "TCP_USER_TIMEOUT", None), int(socket_timeout_s * 1000)))
    return {option: value for option, value in wanted if option is not None}


def celery_config(s: Settings) -> dict[str, Any]:
    """Every Celery setting of the cluster's app, from the settings `s`."""
    c: dict[str, Any] = {"broker_url": s.broker_url, "result_backend": s.result_backend,
                         "task_default_queue": s.queue, "timezone": "UTC", "enable_utc": True}
    if s.redis_tls_ca_file:  # what kombu and the result backend hand to ssl, beside the URL's query
        c["broker_use_ssl"] = c["redis_backend_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED,
                                                           "ssl_ca_certs": s.redis_tls_ca_file}

    # --- safety -------------------------------------------------------------------------
    # JSON only: a pickle payload pushed into Redis by anyone who can reach it would run code.
    c["task_serializer"] = c["result_serializer"] = "json"
    c["accept_content"] = c["result_accept_content"] = ["json"]
    # A job is acknowledged only after it ran, so a worker that dies mid-job leaves it in Redis
    # to be redelivered, and a child process killed under it requeues it at once instead of
    # marking it failed. Cost: a job may run twice, so tasks must be safe to run twice (ours are).
    # Measured (500 no-op jobs, one worker): acknowledging early ran 1.35x the jobs/s (noisy,
    # 157-237 jobs/s): the price of not losing a job, kept. The Kubernetes autoscaler's
    # arithmetic rests on it too (deploy/kubernetes/keda).
    c["task_acks_late"] = True
    c["task_reject_on_worker_lost"] = True

    # VISIBILITY_TIMEOUT: seconds until Redis hands an unacknowledged job to another worker: the
    # backstop. The recovery service (`python -m recovery`) puts a dead worker's jobs back within
    # RECOVERY_SILENCE seconds; this timeout only matters when that service is not running.
    # It must stay above the longest job (MAX_DURATION_S, 3600 s): a job still running past it
    # is handed out a second time and runs twice.
    # REDIS_SOCKET_TIMEOUT: seconds a command may wait for Redis's answer, and a half-open
    # connection may live: a worker whose host was cut off, or whose Redis vanished without
    # closing the connection, finds out within this and reconnects, instead of after the
    # kernel's 15 minutes of retransmissions (measured: 962 s). Larger than any single command
    # takes (BRPOP asks for 1 s at a time).
    c["broker_transport_options"] = {
        "visibility_timeout": s.visibility_timeout,
        # How often workers look for such jobs. kombu's default sweep runs every 10 s x 10
        # (interval x throttle): up to 100 s more on top of the visibility timeout.
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
        "socket_timeout": s.socket_timeout_s,
        "socket_keepalive": True,
        "socket_keepalive_options": keepalive_options(s.socket_timeout_s),
        # kombu drops a BRPOP whose reply is overdue by brpop_timeout (1 s) + this, and pings a
        # connection idle this long before using it: a dead one is seen in seconds (default 25).
        "health_check_interval": 5,
    }
    if s.redis_user == "flower":
        # Flower may write no job (settings/roles.py), yet kombu's sweep runs in every consumer, its
        # reply lists included: pushed out of reach, it never tries to put a job back. The workers do.
        c["broker_transport_options"]["visibility_timeout"] = 100 * 365 * 86400
    c["result_backend_transport_options"] = {"visibility_timeout": s.visibility_timeout}
    # The same bound on the results database (Celery's default waits 120 s per command).
    c["redis_socket_timeout"] = s.socket_timeout_s
    c["redis_socket_keepalive"] = True

    # --- spreading jobs over workers -----------------------------------------------------
    # Each worker process reserves one job at a time. With the default (4), the first worker
    # to start would hoard the first jobs while the others sat idle: no parallelism to see.
    # Measured (benchmark, local, 4 x 0.2 s on 2 workers): efficiency 0.92 here, 0.65 for bare
    # Celery with the default 4, whose first worker took three of the four jobs.
    # WORKER_PREFETCH: jobs each process reserves; more than 1 trades that picture for fewer
    # idle gaps with very short jobs (and a worker that loses Redis drops what it reserved).
    c["worker_prefetch_multiplier"] = s.worker_prefetch
    # Celery 5.6+ can fetch a job only when a pool process is free (Redis only); that is what
    # prefetch 1 already gives one-process workers, and it cost here: 500 no-op jobs on one
    # worker ran at 0.69x the jobs/s of this setting left off (3 interleaved runs, medians).
    c["worker_disable_prefetch"] = False
    c["worker_concurrency"] = s.worker_concurrency

    # --- results -------------------------------------------------------------------------
    c["result_expires"] = s.result_expires

    # --- monitoring ----------------------------------------------------------------------
    # Flower shows tasks live only from events: workers send task events, the producer sends
    # task-sent, so a queued job shows up before a worker takes it. Cost, measured (500 no-op
    # jobs, one worker, 3 interleaved runs): 4 PUBLISH per job of 21 Redis commands, 1.2 of
    # 3.3 ms of worker CPU per job; 1.40x the jobs/s without them. The producer's task-sent
    # events ride in its submit pipeline, one `task.multi` message per flush, so they cost no
    # round trip and every follower decodes one message for many (producer.submit.SentEvents).
    c["worker_send_task_events"] = True
    c["task_send_sent_event"] = True

    # --- connecting ----------------------------------------------------------------------
    c["broker_connection_timeout"] = c["redis_socket_connect_timeout"] = s.broker_timeout
    c["broker_connection_retry_on_startup"] = True  # workers wait for Redis instead of exiting
    # A worker that finishes a job while Redis restarts retries storing the result (backing off
    # up to 10 s between tries) instead of failing a job that succeeded.
    c["result_backend_always_retry"] = True
    c["result_backend_max_retries"] = 30
    # When the broker connection drops, the worker puts its unacknowledged jobs back in the
    # queue; cancel the copies still running, so each job runs once, not twice (Celery 6's default).
    c["worker_cancel_long_running_tasks_on_connection_loss"] = True
    # Celery's consumer, which marks the runs of the jobs it drops as it loses Redis (worker.tasks).
    c["worker_consumer"] = "worker.tasks:JobConsumer"
    # The producer's result listener pings Redis this often, so it notices a restart and
    # reconnects instead of waiting on a dead socket.
    c["redis_backend_health_check_interval"] = 10

    # --- junk on a queue -----------------------------------------------------------------
    # kombu's Redis transport, except that a message that cannot be a job (not JSON, not a
    # Celery task message) is set aside in `<queue>.dead` instead of crashing the worker
    # (worker/transport.py). The URL keeps its redis:// or rediss:// scheme.
    c["broker_transport"] = "worker.transport:Transport"
    if urlsplit(s.broker_url).scheme == "rediss" and not s.redis_tls_ca_file:
        # kombu turns TLS on from the URL's scheme only for its own transport names: say it here,
        # with the certificate checked against the system's CAs.
        c["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return c
