"""In the project's container the producer says what is true there (issue #31): no extra can be installed
(run --plot on the host), and a file is kept only in the folder compose mounts from the clone (./out)."""

from __future__ import annotations

import os
import re
import stat
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
import yaml

from cluster.errors import UsageError
from producer import api
from producer.results import BatchResult
from producer.submit import Collected
from producer.where import Where
from settings import current, roles
from tests.helpers import ROOT
from tests.unit.builders import outcome, record

COMPOSE = Where(in_image=True, output_dir=Path("/out"), output_dir_on_host="./out")


@pytest.fixture(autouse=True)
def settings_read_again():
    """Each test's settings from its own environment: loaded again after it (its variables gone)."""
    current.cache_clear()
    yield
    current.cache_clear()


def in_compose(monkeypatch, out: Path) -> None:
    """This process as compose's producer service: in the image, `out` mounted as the clone's ./out."""
    monkeypatch.setenv("IN_PROJECT_IMAGE", "1")
    monkeypatch.setenv("OUTPUT_DIR", str(out))
    monkeypatch.setenv("OUTPUT_DIR_ON_HOST", "./out")
    current.cache_clear()


def test_a_file_in_the_mounted_folder_is_named_as_the_host_sees_it(monkeypatch):
    monkeypatch.chdir("/")
    assert COMPOSE.written(Path("/out/run.json")) == "./out/run.json on the host (/out/run.json in the container)"
    assert COMPOSE.written(Path("/out/a/b.png")).startswith("./out/a/b.png on the host")
    assert COMPOSE.on_host(Path("/outside/run.json")) is None and COMPOSE.on_host(Path("/out2/x")) is None


def test_a_file_the_container_takes_along_is_said_to_be_lost_and_where_to_write_it():
    said = COMPOSE.written(Path("/tmp/run.json"))
    assert said == ("/tmp/run.json, inside the container only: it goes when the container does; "
                    "write it under /out (on the host ./out), the working folder")
    kubernetes = Where(in_image=True)  # no folder mounted for it
    assert kubernetes.written(Path("/tmp/run.json")).endswith("mount a folder from the host and write it there")
    assert Where().written(Path("run.json")) == "run.json"  # on the host a file is where it was written


def test_the_extras_hint_is_pip_on_the_host_and_the_host_in_the_container():
    assert Where().install_hint("plot", "--plot run.png") == "pip install -e '.[plot]'"
    hint = COMPOSE.install_hint("plot", "--plot run.png")
    assert hint.startswith("not in this image: run the producer on the host for it, in the clone: ")
    assert hint.endswith("python3 -m venv .venv && .venv/bin/pip install -e '.[plot]', then .venv/bin/producer "
                         "--plot run.png")


def test_plot_in_the_container_names_the_host_not_pip(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the image's: no plot extra
    in_compose(monkeypatch, tmp_path)
    from producer.commands.main import main
    from producer.views.plot import pyplot

    with pytest.raises(UsageError, match="not in this image: run the producer on the host"):
        pyplot()
    with pytest.raises(SystemExit) as exit_info:
        main(["--plot", "run.png"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("producer: error: plots need matplotlib: not in this image") and "pip install -e '.[plot]'" \
        in err and ".venv/bin/producer --plot run.png" in err


@pytest.mark.parametrize("asked, said", [
    ("run.json", "trace written to ./out/run.json on the host"),
    ("/tmp/{tmp}/lost.json", "inside the container only: it goes when the container does; write it under"),
])
def test_a_trace_written_in_the_container_says_where_it_is_on_the_host(asked, said, monkeypatch, capsys, tmp_path):
    from producer.commands.main import main

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)  # compose's producer: its working folder is the mounted one
    in_compose(monkeypatch, out)
    done = [outcome(record(0, 1, task_id=f"id-{i}", hostname=f"h{i}"), task_id=f"id-{i}") for i in range(2)]
    monkeypatch.setattr(api, "ready", lambda app, queue, on_wait=None: api.Ready(queue, [], 2, 0))
    monkeypatch.setattr("producer.commands.main.followed_run", lambda *a, **k: nullcontext())  # no events to follow
    monkeypatch.setattr(api, "run_on", lambda *a, **k: BatchResult.of(Collected(done, wall_s=1.0, submit_s=0.01),
                                                                      slots_online=2, queued_ahead=0))
    path = asked.format(tmp=tmp_path.relative_to("/tmp")) if asked.startswith("/tmp") else asked
    with pytest.raises(SystemExit) as exit_info:
        main(["--jobs", "2", "--no-timeline", "--trace", path])
    err = capsys.readouterr().err
    assert exit_info.value.code == 0, err
    assert said in err and "(open it in https://ui.perfetto.dev)" in err
    assert (out / path).is_file()


def test_a_read_only_folder_in_the_container_names_the_mounted_one(monkeypatch, tmp_path):
    import click

    from producer.commands.options import writable

    in_compose(monkeypatch, Path("/out"))

    def read_only(*_a, **_k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("builtins.open", read_only)
    with pytest.raises(click.BadParameter, match=re.escape("(in the container: write it under /out (on the host "
                                                           "./out), the working folder)")):
        writable(None, None, tmp_path / "run.json")  # type: ignore[arg-type]


def test_compose_mounts_the_clones_out_as_the_producers_working_folder_and_says_so():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    producer, secrets = compose["producer"], compose["secrets"]
    env = producer["environment"]
    mount = f"{env['OUTPUT_DIR_ON_HOST']}:{env['OUTPUT_DIR']}"
    assert mount in producer["volumes"] and producer["working_dir"] == env["OUTPUT_DIR"]
    assert "secrets:/run/secrets:ro" in producer["volumes"]  # its password, as every service's
    # the one-shot that runs before it, as root, opens the same folder to it (settings.roles.open_output)
    assert f"{env['OUTPUT_DIR_ON_HOST']}:/out" in secrets["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^\s*IN_PROJECT_IMAGE=1\s*$", dockerfile, re.M)  # the producer knows it is in the image
    assert re.search(r"^ENV PYTHONPATH=/app ", dockerfile, re.M)  # and finds its code from /out


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a folder to another group needs root (as the secrets service)")
def test_the_secrets_service_opens_the_output_folder_to_the_producer_and_leaves_it_the_owners(tmp_path):
    owner, out = tmp_path / "clone", tmp_path / "out"
    owner.mkdir()
    out.mkdir()
    os.chown(owner, 1234, 1234)
    code = roles.main(["install", "--owner-dir", str(tmp_path / "secrets.local"), "--owner-of", str(owner),
                       "--target", str(tmp_path / "run"), "--output-dir", str(out)])
    assert code == 0
    info = out.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1234, roles.ROLES["producer"].uid, 0o775)
