"""The errors of anything that talks to the cluster, and their exit codes: each is reported once,
as one line, by the producer's CLI (producer.commands.main.main).

Raised by the producer, by cluster.workers and cluster.queues (Redis unreachable, no worker on
the queue) and by devcluster's launchers (LocalClusterError, RedisServerMissing); a benchmark
catches Interrupted. Besides the classes, the messages some carry are built here: what became of
an interrupted batch (`Interrupted.after`), which queues do have workers (`no_workers`), and how
to start workers on a queue (`start_workers_hint`).
"""

from __future__ import annotations

#: Exit codes, so scripts and tests can tell failures apart.
RET_OK = 0
RET_JOBS_FAILED = 1  # some job failed or did not finish in time; the others are reported
RET_USAGE = 2  # bad arguments (click's own convention)
RET_BROKER = 3  # Redis could not be reached or refused us
RET_NO_WORKERS = 4  # no worker consumes the queue: nothing was submitted
RET_INTERRUPTED = 130  # Ctrl-C (or SIGTERM): our queued jobs were withdrawn first
RET_LOCAL = 5  # the local cluster could not start (port taken, a worker that exited), or is not up


class ProducerError(Exception):
    """Base class of the errors the CLI turns into a one-line message and an exit code."""

    exit_code = RET_JOBS_FAILED


class UsageError(ProducerError):
    """Raised when arguments are valid one by one but not together."""

    exit_code = RET_USAGE


class BrokerUnreachable(ProducerError):
    """Raised when Redis does not answer, or refuses our password, within the timeout."""

    exit_code = RET_BROKER


class NoWorkers(ProducerError):
    """Raised when no worker consumes the queue, so submitted jobs would only wait."""

    exit_code = RET_NO_WORKERS


class Interrupted(ProducerError):
    """Raised after Ctrl-C or SIGTERM, once the batch's queued jobs were withdrawn."""

    exit_code = RET_INTERRUPTED

    @classmethod
    def after(cls, withdrawn: int, finished: int, running: int) -> Interrupted:
        """What became of the batch's jobs that had no result yet: withdrawn, finished meanwhile, still running."""
        if not (withdrawn or finished or running):
            return cls("interrupted")
        parts = [f"withdrew {withdrawn} jobs that had not started"]
        if finished:
            parts.append(f"{finished} had finished")
        if running:
            parts.append(f"{running} taken by a worker will finish (or are dropped, if only reserved)")
        return cls("interrupted: " + "; ".join(parts))


class ExtraMissing(UsageError):
    """Raised when an option needs an optional dependency that is not installed; names the extra to install."""

    def __init__(self, option: str, extra: str, module: str) -> None:
        super().__init__(f"{option} needs the {extra} extra ({module} is not installed): "
                         f"pip install -e '.[{extra}]'")


def start_workers_hint(queue: str) -> str:
    """How to get a worker onto `queue`: the flavours' queues need FLAVOURS=1 (docs/course.md)."""
    if queue.endswith(("-threads", "-gevent")):
        return "FLAVOURS=1 docker compose up -d --wait"
    return "docker compose up -d --wait (or without Docker: python -m producer local up)"


def no_workers(queue: str, others: list[str]) -> NoWorkers:
    """NoWorkers for `queue`, naming the queues that do have workers and how to start some."""
    hint = f"queues with workers: {', '.join(others)}" if others else "no worker answers at all"
    return NoWorkers(f"no worker consumes queue '{queue}' ({hint}); start them first: {start_workers_hint(queue)}")


class RedisServerMissing(BrokerUnreachable):
    """Raised when no redis-server is installed for a local cluster; says how to install one."""


class LocalClusterError(ProducerError):
    """Raised when the local cluster cannot start, or is not up when a command needs it; also when
    workers do not answer in time (cluster.workers.wait_for_workers)."""

    exit_code = RET_LOCAL
