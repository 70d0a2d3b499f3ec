"""The roles (settings/roles.py): Redis' ACL file, the passwords' files, and where they agree with the rest."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys

import pytest
import yaml

from settings import Settings, load, roles
from tests.helpers import ROOT


def passwords() -> dict[str, str]:
    return {role: roles.new_password() for role in roles.ROLES}


def test_the_acl_file_disables_default_and_holds_hashes_only():
    given = passwords()
    text = roles.acl_file(given, "jobs")
    lines = text.splitlines()
    assert lines[0].startswith("user default off resetpass ") and "nopass" not in text  # off: no login
    assert [line.split()[1] for line in lines] == ["default", *roles.ROLES]
    for password in given.values():
        assert password not in text and f"#{hashlib.sha256(password.encode()).hexdigest()}" in text
    assert "~jobs*" in text and "{q}" not in text


def test_only_admin_may_flush_configure_or_kill_and_only_recovery_besides_may_list_clients():
    for role in roles.ROLES.values():
        rules = role.acl("jobs").split()
        if role.name == "admin":
            assert rules[0] == "+@all" and role.uid is None  # never mounted into a container
            continue
        assert not {"+@all", "+flushall", "+flushdb", "+config", "+debug", "+keys", "+acl", "~*"} & set(rules)
        assert ("+client|kill" in rules) == ("+client|list" in rules) == (role.name == "recovery")
        assert "-@admin" in rules and "-@dangerous" in rules


def test_flower_reads_the_queues_and_may_write_none():
    rules = roles.ROLES["flower"].acl("jobs").split()
    assert "%R~jobs*" in rules and "~jobs*" not in rules and "+lpush" not in rules


def test_the_queue_setting_shapes_the_key_patterns():
    assert "~work*" in roles.ROLES["worker"].acl("work").split()


def test_ensure_makes_private_files_keeps_them_and_rotates_them(tmp_path):
    folder = tmp_path / "secrets.local"
    first = roles.ensure(folder)
    assert sorted(first) == sorted([*(roles.secret_name(r) for r in roles.ROLES), roles.FLOWER])
    assert len(set(first.values())) == len(first) and all(len(p) == 32 for p in first.values())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE((folder / name).stat().st_mode) == 0o600 for name in first)
    assert roles.ensure(folder) == first  # the second `up` keeps them
    rotated = roles.ensure(folder, rotate=True)
    assert not set(rotated.values()) & set(first.values())


def test_two_folders_get_passwords_of_their_own(tmp_path):
    assert not set(roles.ensure(tmp_path / "a").values()) & set(roles.ensure(tmp_path / "b").values())


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to other uids needs root (as compose's secrets service)")
def test_install_gives_each_role_its_own_folder(tmp_path):
    found = roles.ensure(tmp_path / "owner")
    roles.install(found, tmp_path / "run", "jobs")
    for role in roles.ROLES.values():
        folder = tmp_path / "run" / role.name
        if role.uid is None:
            assert not folder.exists()
            continue
        assert (folder.stat().st_uid, stat.S_IMODE(folder.stat().st_mode)) == (role.uid, 0o500)
        secret = folder / "redis_password"
        assert (secret.stat().st_uid, stat.S_IMODE(secret.stat().st_mode)) == (role.uid, 0o400)
        assert secret.read_text() == found[roles.secret_name(role.name)]
    assert stat.S_IMODE((tmp_path / "run" / roles.ACL_FILE).stat().st_mode) == 0o444


def test_the_uids_agree_with_the_dockerfile_and_compose():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = {int(uid): name for uid, name in re.findall(r"--uid (\d+) .*?(\w+) ?\\?\n", dockerfile)}
    by_user = {"app": "worker", **{n: n for n in ("flower", "producer", "recovery")}}
    assert {uid: by_user[name] for uid, name in users.items()} == {
        r.uid: r.name for r in roles.ROLES.values() if r.uid}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, service in compose.items():
        if name in ("redis", "secrets"):
            continue
        role = service["environment"]["REDIS_USER"]
        assert by_user[service["user"]] == role, name
        assert service["environment"]["REDIS_PASSWORD_FILE"] == f"/run/secrets/{role}/redis_password", name


def test_no_password_is_committed():
    found = subprocess.run(["git", "grep", "-n", "-i", "-e", "celery-demo", "--", "."], cwd=ROOT,
                           capture_output=True, text=True).stdout.splitlines()
    assert not [line for line in found if "password" in line.lower() or "requirepass" in line.lower()]
    assert not (ROOT / "secrets").exists()


def test_flowers_config_file_refuses_to_start_without_its_password(tmp_path):
    conf = ROOT / "worker" / "flowerconfig.py"
    run = subprocess.run([sys.executable, str(conf)], env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True)
    assert run.returncode != 0 and "FLOWER_PASSWORD_FILE is not set" in run.stderr
    (tmp_path / "pw").write_text("s3cret\n")
    namespace: dict = {}
    env = {**os.environ, "FLOWER_USER": "teacher", "FLOWER_PASSWORD_FILE": str(tmp_path / "pw"),
           "PYTHONPATH": str(ROOT)}
    script = f"import runpy; print(runpy.run_path({str(conf)!r})['basic_auth'])"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['teacher:s3cret']" and not namespace


def test_security_md_names_a_test_beside_each_claim_and_each_test_exists():
    text = (ROOT / "SECURITY.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(named) >= 10
    for path, test in named:
        assert re.search(rf"^def {test}\(", (ROOT / path).read_text(), re.M), f"{path}::{test}"
    table = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| claim")]
    claims = [line for line in table if not set(line) <= set("|- ")]
    assert claims and all("tests/" in line for line in claims), [c for c in claims if "tests/" not in c]


def test_the_owner_folder_is_where_the_host_producer_looks(tmp_path):
    assert load({}, {}).secrets_dir == ROOT / "secrets.local"
    assert load({"SECRETS_DIR": str(tmp_path)}, {}).secrets_dir == tmp_path
    (tmp_path / "redis-producer").write_text("pw\n")
    no_local_cluster = {"LOCAL_CLUSTER_DIR": str(tmp_path / "none")}
    assert load(no_local_cluster, {"SECRETS_DIR": str(tmp_path)}).broker_url == "redis://producer:pw@localhost:6379/0"
    given = Settings(secrets_dir=tmp_path)
    assert given.owner_secret("redis-producer") == "pw" and given.owner_secret("flower") is None


def test_on_redis_6_2_read_only_patterns_become_plain_ones_and_connecting_is_granted_by_name():
    passwords = {role: "pw" for role in roles.ROLES}
    new, old = roles.acl_file(passwords, "jobs"), roles.acl_file(passwords, "jobs", (6, 2, 14))
    assert "%R~" in new and "%R~" not in old and "+client|setname" not in new
    for line in old.splitlines()[1:]:
        if "+@all" not in line:
            assert line.endswith(roles.BEFORE_7_CONNECT)
    producer = next(line for line in old.splitlines() if line.startswith("user producer "))
    assert "~runs:*" in producer  # read-write on 6.2, where 7 makes it read-only
    assert old.splitlines()[0] == new.splitlines()[0]  # `default` stays off either way
