"""A typo in .env is named, with the setting it probably means (issue #31): `WORKRES=8` started 2 workers
without a word. A user's own variables there pass quietly."""

from __future__ import annotations

import pytest

from cluster.errors import BrokerUnreachable
from producer import compose_env
from producer.compose_env import compose_setting, known_names, read_dotenv, typo_warning, typos
from settings import load
from settings.environment import Reader, lookup
from settings.model import REDIS_PASSWORD
from tests.helpers import ROOT


def test_a_typo_is_named_with_the_setting_it_probably_means(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# WORKRS=1 is a comment\nWORKRES=8\nWORKERS=2\nMY_API_TOKEN=x\nHTTP_PROXY=http://p:3128\n"
                      "COMPOSE_PROJECT_NAME=demo\nexport FLOWER_PROT=5556\n")
    warning = typo_warning(dotenv)
    assert warning == (f"warning: {dotenv}: WORKRES (did you mean WORKERS?), FLOWER_PROT (did you mean "
                       "FLOWER_PORT?) are not a setting of this project: docker compose ignores them")
    dotenv.write_text("WORKER_CONCURENCY=2\n")
    assert typo_warning(dotenv) == (f"warning: {dotenv}: WORKER_CONCURENCY (did you mean WORKER_CONCURRENCY?) "
                                    "is not a setting of this project: docker compose ignores it")


def test_a_users_own_variables_and_no_env_at_all_say_nothing(tmp_path):
    dotenv = tmp_path / ".env"
    assert typo_warning(dotenv) is None  # nothing needs a .env
    dotenv.write_text("MY_API_TOKEN=x\nHTTP_PROXY=http://p:3128\nCOMPOSE_FILE=docker-compose.yml\nDOCKER_HOST=x\n")
    assert typo_warning(dotenv) is None


def test_every_name_the_example_documents_is_known():
    names = read_dotenv(ROOT / ".env.example")
    commented = [line.lstrip("# ").partition("=")[0] for line in (ROOT / ".env.example").read_text().splitlines()
                 if line.startswith("# ") and "=" in line and line[2:].partition("=")[0].isupper()]
    assert typos([*names, *commented], known_names()) == {}
    assert {*names, *commented} <= known_names()


def test_the_known_names_are_composes_and_the_settings_modules():
    known = known_names()
    assert {"WORKERS", "FLOWER_PORT", "PYTHON_IMAGE"} <= known  # docker-compose.yml's
    assert {"REDIS_TLS_PORT", "BROKER_HOST"} <= known  # compose.tls.yml's, compose.worker.yml's
    assert {"BROKER_TIMEOUT", "WORKER_WAIT", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE", "BROKER_URL"} <= known  # config's


def test_compose_setting_reads_the_last_line_as_compose_does(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("FLOWER_PORT=1\nexport FLOWER_PORT='25555'\n")
    monkeypatch.delenv("FLOWER_PORT", raising=False)
    assert compose_setting("FLOWER_PORT", "5555", dotenv) == "25555"


def test_status_warns_of_a_typo_before_anything_else(tmp_path, monkeypatch, capsys):
    from producer.commands import main as cli

    (tmp_path / ".env").write_text("WORKRES=8\n")
    monkeypatch.setattr(compose_env, "DOTENV", tmp_path / ".env")

    def no_redis(*_):
        raise BrokerUnreachable("cannot reach Redis")

    monkeypatch.setattr(cli, "check_brokers", no_redis)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["status"])
    warning, error = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 3  # a warning: what fails is what failed anyway
    assert warning.startswith("warning: ") and "WORKRES (did you mean WORKERS?)" in warning
    assert error == "producer: error: cannot reach Redis"


def test_a_setting_is_the_environments_else_the_dot_envs_as_compose_reads_them():
    dotenv = {"WORKER_WAIT": " 7 ", "REDIS_PORT": "6380"}
    assert lookup("WORKER_WAIT", {}, dotenv) == "7"
    assert lookup("WORKER_WAIT", {"WORKER_WAIT": "9"}, dotenv) == "9"  # the shell's wins
    assert lookup("REDIS_PORT", {"REDIS_PORT": ""}, dotenv) == ""  # a blank one clears the file's
    assert lookup("QUEUE", {}, dotenv) == ""


def test_the_host_settings_read_the_clones_dot_env(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# the user's\nWORKER_WAIT=7\nexport BROKER_TIMEOUT='1.5'\nREDIS_PASSWORD_FILE=\n")
    values = read_dotenv(dotenv)
    shell = {"LOCAL_CLUSTER_DIR": str(tmp_path / "no-local-cluster")}
    settings = load(shell, values)
    assert (settings.worker_wait, settings.broker_timeout) == (7.0, 1.5)
    assert load({**shell, "WORKER_WAIT": ""}, values).worker_wait == 15  # blank in the shell: the default, as compose
    assert Reader(shell, values).raw(REDIS_PASSWORD) is None
