"""The one compose launcher (devcluster.compose.ComposeProject), without Docker: its name, ports, passwords."""

from __future__ import annotations

import shutil
from pathlib import Path

from devcluster.compose import ComposeProject
from settings import roles


def test_each_project_has_its_own_name_ports_and_password_folder():
    one, two = ComposeProject.new("cpd-unit", WORKERS="3"), ComposeProject.new("cpd-unit")
    try:
        assert one.project != two.project and one.project.startswith("cpd-unit-")
        assert {one.env["REDIS_PORT"], one.env["FLOWER_PORT"]}.isdisjoint({"6379", "5555"})
        assert Path(one.env["SECRETS_DIR"]).parent == one.home and one.home.is_dir()
        assert one.env["WORKERS"] == "3" and "WORKERS" not in two.env
    finally:
        for project in (one, two):
            shutil.rmtree(project.home)


def test_urls_and_clients_use_the_passwords_its_first_up_made(tmp_path):
    project = ComposeProject("cpd-unit-x", {"REDIS_PORT": "7001", "SECRETS_DIR": str(tmp_path)})
    for role in roles.ROLES:
        (tmp_path / roles.secret_name(role)).write_text(f"pw-{role}\n")
    assert project.url(1) == "redis://producer:pw-producer@127.0.0.1:7001/1"
    assert project.url(0, "admin") == "redis://admin:pw-admin@127.0.0.1:7001/0"
    client = project.redis("worker", db=1)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["username"], kwargs["password"], kwargs["db"]) == (7001, "worker", "pw-worker", 1)
    client.close()
