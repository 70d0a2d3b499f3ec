# One image for worker, flower and producer, so all three share the same task registry.
# PYTHON_IMAGE lets a machine with no registry build from a local base image.
ARG PYTHON_IMAGE=python:3.12-slim
FROM ${PYTHON_IMAGE}

# Logs straight to `docker compose logs`; no .pyc files in a read-only layer.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The code is copied, not installed: found from any working folder (the producer's is /out).
# IN_PROJECT_IMAGE: the producer knows it runs here, where no extra can be installed and a
# file outside a mounted folder goes with the container, and says so (producer/where.py).
ENV PYTHONPATH=/app \
    IN_PROJECT_IMAGE=1

# Never run as root: a task that misbehaves gets an unprivileged account. One account per
# part (settings/roles.py's uids), so no part can read another's password file: app runs the
# workers, the others Flower, the producer and the recovery service.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
 && useradd --no-create-home --uid 10002 --user-group --shell /usr/sbin/nologin flower \
 && useradd --no-create-home --uid 10003 --user-group --shell /usr/sbin/nologin producer \
 && useradd --no-create-home --uid 10004 --user-group --shell /usr/sbin/nologin recovery

WORKDIR /app

# Dependencies first, in their own layer: editing the code does not reinstall them. Exactly
# the versions in the lock file, each checked against its hash (requirements.lock: made by
# `uv pip compile --universal --generate-hashes ...`, docs/development.md; universal, so a
# base image with another Python 3.11+ gets what it needs).
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock

COPY settings ./settings
COPY worker ./worker
COPY cluster ./cluster
COPY recovery ./recovery
COPY devcluster ./devcluster
COPY producer ./producer

USER app

# Exec form: SIGTERM reaches celery itself, which then shuts down warm (finishes its job).
# Compose overrides this per service; alone, the image runs one worker.
CMD ["celery", "-A", "worker", "worker", "-n", "worker@%h", "--loglevel=INFO"]
