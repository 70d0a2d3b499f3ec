"""The settings (settings.model): one frozen object, read once, each refusal one SettingError naming
the variable; Celery's configuration generated from it (worker.config)."""

from __future__ import annotations

import ssl
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from settings import SettingError, Settings, current, load
from settings.environment import VARIABLES, Reader, Variable, variable
from worker.config import celery_config


@pytest.fixture
def shell(tmp_path) -> dict[str, str]:
    """An environment that names no Redis and finds no local cluster."""
    return {"LOCAL_CLUSTER_DIR": str(tmp_path / "no-local-cluster"), "SECRETS_DIR": str(tmp_path / "no-secrets")}


def test_nothing_set_gives_compose_s_defaults(shell, tmp_path):
    s = load(shell, {})
    assert (s.broker_url, s.result_backend) == ("redis://producer:@localhost:6379/0", "redis://producer:@localhost:6379/1")
    assert (s.queue, s.redis_user, s.visibility_timeout, s.worker_prefetch, s.worker_concurrency) == (
        "jobs", "producer", 3600, 1, 1)
    assert (s.broker_timeout, s.worker_wait, s.recovery_silence, s.recovery_max_deaths) == (3.0, 15.0, 6.0, 3)
    assert s.local_cluster_dir == tmp_path / "no-local-cluster" and not s.in_image
    # the dataclass's own defaults are those too, URLs aside
    assert replace(s, broker_url=Settings.broker_url, result_backend=Settings.result_backend,
                   secrets_dir=Settings.secrets_dir, local_cluster_dir=Settings.local_cluster_dir) == Settings()


def test_the_shell_wins_over_dot_env_and_a_blank_one_clears_it(shell):
    dotenv = {"QUEUE": "from-file", "WORKER_WAIT": "7", "REDIS_PORT": "6390"}
    s = load({**shell, "QUEUE": "from-shell", "WORKER_WAIT": ""}, dotenv)
    assert (s.queue, s.worker_wait) == ("from-shell", 15.0)
    assert s.broker_url == "redis://producer:@localhost:6390/0"


def test_the_redis_urls_come_from_the_parts_or_whole(shell, tmp_path):
    (tmp_path / "pw").write_text("s e/cret\n")
    s = load({**shell, "REDIS_HOST": "redis", "REDIS_USER": "worker", "REDIS_PASSWORD_FILE": str(tmp_path / "pw")}, {})
    assert s.broker_url == "redis://worker:s%20e%2Fcret@redis:6379/0" and s.result_backend.endswith("@redis:6379/1")
    whole = load({**shell, "BROKER_URL": "redis://a:b@h:1/0", "RESULT_BACKEND": "rediss://a:b@h:2/3"}, {})
    assert (whole.broker_url, whole.result_backend) == ("redis://a:b@h:1/0", "rediss://a:b@h:2/3")
    assert load({**shell, "BROKER_URL": "redis://h:1/4"}, {}).result_backend == "redis://h:1/1"


@pytest.mark.parametrize(("name", "value", "says"), [
    ("VISIBILITY_TIMEOUT", "abc", "VISIBILITY_TIMEOUT='abc': must be a whole number of at least 1"),
    ("WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY='0': must be a whole number of at least 1"),
    ("BROKER_TIMEOUT", "0", "BROKER_TIMEOUT='0': must be a number of seconds above 0"),
    ("WORKER_WAIT", "-1", "WORKER_WAIT='-1': must be a number of seconds of at least 0"),
    ("RECOVERY_SILENCE", "inf", "RECOVERY_SILENCE='inf': must be a number of seconds above 0"),
    ("REDIS_USER", "a b", "REDIS_USER='a b': must be a role's name"),
    ("REDIS_USER", "alice", "REDIS_USER='alice': not a user of this cluster; one of admin, flower"),
    ("BROKER_URL", "amqp://h/", "BROKER_URL: must be a redis:// or rediss:// URL"),
    ("REDIS_TLS_CA_FILE", "/nowhere/ca.crt", "REDIS_TLS_CA_FILE=/nowhere/ca.crt: no such file"),
    ("REDIS_PASSWORD_FILE", "/run/secrets/worker/redis_password",
     "REDIS_PASSWORD_FILE=/run/secrets/worker/redis_password: cannot read it (No such file or directory); "
     "the cluster's first `docker compose up -d --wait` makes it"),
])
def test_a_bad_value_is_one_setting_error_that_names_it(shell, name, value, says):
    with pytest.raises(SettingError) as refused:
        load({**shell, name: value}, {})
    assert str(refused.value).startswith(says) and "\n" not in str(refused.value)
    with pytest.raises(SettingError):  # the same from the clone's .env
        load(shell, {name: value})


def test_settings_are_frozen_and_current_is_loaded_once():
    with pytest.raises(FrozenInstanceError):
        Settings().queue = "other"  # type: ignore[misc]
    assert current() is current()


def test_every_variable_is_declared_once_with_its_default():
    assert VARIABLES["QUEUE"] == Variable("QUEUE", "jobs") and VARIABLES["BROKER_URL"].default is None
    assert {"VISIBILITY_TIMEOUT", "REDIS_PASSWORD", "FLOWER_USER", "LOCAL_CLUSTER_DIR", "HEALTH_FILE"} <= set(VARIABLES)
    with pytest.raises(AssertionError, match="QUEUE is declared twice"):
        variable("QUEUE")
    assert Reader({}, {}).text(VARIABLES["HEALTH_FILE"]) == "/tmp/worker.alive"


def test_celerys_configuration_is_generated_from_the_settings(shell, tmp_path):
    c = celery_config(load({**shell, "VISIBILITY_TIMEOUT": "120", "WORKER_PREFETCH": "2", "QUEUE": "q"}, {}))
    assert c["broker_transport_options"]["visibility_timeout"] == 120
    assert c["result_backend_transport_options"] == {"visibility_timeout": 120}
    assert (c["worker_prefetch_multiplier"], c["task_default_queue"]) == (2, "q")
    assert c["task_acks_late"] and c["task_reject_on_worker_lost"] and c["accept_content"] == ["json"]
    assert c["broker_transport"] == "worker.transport:Transport" and "broker_use_ssl" not in c
    # Flower writes no job: its sweep is pushed out of reach
    assert celery_config(Settings(redis_user="flower"))["broker_transport_options"]["visibility_timeout"] > 10**9
    ca = tmp_path / "ca.crt"
    ca.write_text("")
    tls = celery_config(load({**shell, "REDIS_TLS_CA_FILE": str(ca)}, {}))
    assert tls["broker_use_ssl"] == tls["redis_backend_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED,
                                                                      "ssl_ca_certs": str(ca)}
    assert tls["broker_url"].startswith("rediss://")
    system_cas = celery_config(replace(Settings(), broker_url="rediss://h:1/0"))
    assert system_cas["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}


def test_an_owner_secret_is_none_when_there_is_none(tmp_path):
    (tmp_path / "flower").write_text("\n")
    assert Settings(secrets_dir=tmp_path).owner_secret("flower") is None  # empty
    assert Settings(secrets_dir=Path("/nowhere")).owner_secret("flower") is None
