"""Who may do what in Redis: one ACL user per part of the cluster, their passwords, and their files.

Every part logs in as its own Redis user (`REDIS_USER`, settings/model.py) and may run only
the commands, on only the keys and channels, that it really sends. The lists below were
read off Redis' `ACL LOG` while the test suite ran with them in force: every integration
test fails on a refusal it did not ask for (tests/conftest.py), so a command a part
starts to send shows up as a failing test, and is added here, in this one place.

The keys (kombu's and Celery's layout on Redis; ACL key patterns span every database):
- db 0: the queues (`jobs`, its priority lists `jobs\\x06\\x163`.., the flavours'
  `jobs-threads`.., the dead letters `jobs.dead`; the quiz's `quiz-*`); kombu's exchange
  bindings `_kombu.binding.*`; the jobs delivered and not acknowledged `unacked`,
  `unacked_index`, `unacked_mutex`, each worker's hand-off list `unacked.taken:<node>` and
  `unacked.takers` (worker/layout.py); the remote control's reply lists `*.reply.celery.pidbox`.
- db 1: results `celery-task-meta-*`, each run of a job `runs:*` (worker/runs.py).
- channels: kombu's fanout exchanges (`/0.celeryev/...` events, `/0.celery.pidbox`), and
  the result backend's `celery-task-meta-*`.

Passwords are random and never written down in the repository: `python -m settings.roles
install` (compose's one-shot `secrets` service) makes them on the first `up`, keeps the
owner's copy in SECRETS_DIR and gives each container only its own (SECURITY.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from settings.private_file import write_private

#: What every client needs to log in and talk: select its database, name its connection, tell
#: its library (redis-py's CLIENT SETINFO, a subcommand Redis 7.0 does not know, so named by its
#: category), and check the server is there. Not CLIENT LIST/KILL/PAUSE: those are @admin.
_CONNECT = "+@connection -@admin -@dangerous"
#: Celery events and the remote control ride kombu's fanout exchanges: publish and listen.
_FANOUT = "+publish +subscribe +psubscribe +unsubscribe +punsubscribe"
#: kombu's exchange bindings (`_kombu.binding.*`): declared by whoever consumes or asks, kept
#: alive and swept by two Lua scripts for queues that expire (the remote control's replies).
_BINDINGS = ("+sadd +smembers +srem +evalsha +eval +script|load +time +zadd +zrangebyscore +exists +del +zrem"
             " ~_kombu.binding*")
#: The remote control's lists: a reply list per asking app, a (never filled) one per worker
#: node, each with its priority lists; declared, consumed and deleted on the way out.
_PIDBOX = "~*.celery.pidbox*"
#: An event receiver's own queue (`celeryev.<uuid>`, fed by pub/sub, never filled), declared
#: and deleted by whoever follows the events: the producer's live view, Flower, the recovery service.
_EVENTS = "~celeryev.*"
#: Every consumer of a queue (the producer and Flower consume their replies) runs kombu's
#: visibility-timeout sweep: take the `unacked_mutex` lock, read `unacked_index`.
_SWEEP = "+set +get +zrange +zrevrangebyscore +script|exists ~unacked_mutex %R~unacked_index"
#: A pipeline that is a transaction (kombu's restore, queue purge, results).
_TRANSACTION = "+multi +exec +discard +watch +unwatch"
#: Channels everyone uses: kombu's fanouts (events, remote control; db 0) and each result's
#: channel. A PSUBSCRIBE pattern must be granted as written, hence the two literal ones.
_CHANNELS = "&/* &celery-task-meta-* &/0.celery.pidbox &/0.celeryev/*"
#: The recovery service follows the workers' events only (routing key `worker.#`: PSUBSCRIBE
#: `/0.celeryev/worker.*`, a pattern granted as written).
_WORKER_EVENTS = "&/0.celeryev/worker.*"
#: Every client: log in, its exchanges and replies, events and results' channels.
_COMMON = f"{_CONNECT} {_FANOUT} {_BINDINGS} {_PIDBOX} {_EVENTS} {_CHANNELS} {_SWEEP}"


@dataclass(frozen=True)
class Role:
    """One Redis user: who it is for, the uid its container runs as, and its ACL rules (`{q}` is QUEUE)."""

    name: str
    uid: int | None  # the container's user (Dockerfile); None: never mounted in a container
    why: str
    rules: str

    def acl(self, queue: str) -> str:
        return " ".join(self.rules.format(q=queue).split())


ROLES: dict[str, Role] = {role.name: role for role in (
    Role("worker", 10001, "takes jobs, stores results and runs, sends events, answers the remote control", f"""
        {_COMMON} {_TRANSACTION}
        +brpop +blmove +lmove +lrem +lpush +rpush +ltrim +llen +lrange +hset +hget +hdel +hgetall +zrange
        +zrevrangebyscore
        +set +get +mget +setex +expire +pexpire
        ~{{q}}* ~quiz-* ~unacked* ~celery-task-meta-* ~runs:* ~cup:*"""),
    Role("producer", 10003, "submits, waits for results, withdraws and purges its queues, asks who listens", f"""
        {_COMMON} {_TRANSACTION}
        +lpush +rpush +llen +lrange +lrem +brpop +get +mget +hget +hexists +hlen +hvals +zscore +hdel +zrem
        ~{{q}}* ~quiz-* ~celery-task-meta-* %R~runs:* ~unacked*"""),
    Role("flower", 10002, "reads events, queue lengths and the remote control's answers; writes no job", f"""
        {_COMMON} {_TRANSACTION}
        +llen +brpop +get +mget
        %R~{{q}}* %R~quiz-* %R~celery-task-meta-*"""),
    Role("recovery", 10004, "puts a lost worker's jobs back, fences a vanished worker (CLIENT LIST/KILL)", f"""
        {_COMMON} {_TRANSACTION} {_WORKER_EVENTS}
        +client|list +client|kill
        +lpush +rpush +llen +brpop +lrange +hget +hgetall +hdel +hexists +zrange +zscore +get +mget +expire
        ~{{q}}* ~quiz-* ~unacked* %R~celery-task-meta-* ~runs:*"""),
    # KEDA's operator (deploy/kubernetes/keda): counts the jobs waiting (the queue, a list) and
    # held (kombu's `unacked`, a hash) with one Lua script, TYPE then LLEN or HLEN of its key.
    Role("keda", None, "KEDA's autoscaler (Kubernetes): reads the queue's length and the held jobs' count", """
        +@connection -@admin -@dangerous +eval +type +llen +hlen
        ~{q} ~unacked"""),
    # The machine's owner (and the tests): everything, from the host only; no container has it.
    Role("admin", None, "the owner: everything (redis-cli, the tests); never given to a container",
         "+@all ~* &*"),
)}

#: What a container reads: /run/secrets/<role>/redis_password (and flower/flower_password).
CONTAINER_DIR = Path("/run/secrets")
#: Redis' own file of users, with password hashes only: nothing in it logs anyone in.
ACL_FILE = "users.acl"
#: Flower's login password (its user name is FLOWER_USER), in the owner's folder and Flower's.
FLOWER = "flower"


def secret_name(role: str) -> str:
    """The owner's file of a role's Redis password: redis-worker, redis-producer, ..."""
    return f"redis-{role}"


def new_password() -> str:
    """32 random URL-safe characters (192 bits): nothing to quote in a URL or a config file."""
    return secrets.token_urlsafe(24)


#: Redis before 7.0 knows no read-only key patterns (`%R~`): there a role reads and writes those keys.
READ_ONLY_KEYS_SINCE = (7, 0)
#: What @connection grants on 7.0 and not on 6.2, for every role there.
BEFORE_7_CONNECT = " +select +client|setname +client|setinfo +client|maint_notifications"


def acl_file(passwords: Mapping[str, str], queue: str, redis_version: tuple[int, ...] = READ_ONLY_KEYS_SINCE) -> str:
    """Redis' ACL file: `default` disabled, one user per role, each with its password's SHA-256 only.

    For a Redis older than 7.0 (the `redis-bin` extra's 6.2), `%R~pattern` becomes `~pattern`
    (the same keys, read and write: the local cluster's own Redis, on loopback only), and SELECT
    and CLIENT SETNAME (with SETINFO and MAINT_NOTIFICATIONS, which redis-py sends and 6.2 answers
    as unknown) are granted by name: there CLIENT is one command, in @admin, and SELECT is in
    @keyspace, neither in @connection.

    `default` is off with no password: nobody logs in as it, and a client that has not logged
    in gets NOAUTH. It keeps every permission all the same, because Redis 7.0 replays the
    append-only file's transactions (MULTI/EXEC) as `default` when it starts: refused, they
    were lost, and with them the jobs queued before a restart (tests/integration/test_roles.py).
    """
    lines = ["user default off resetpass ~* &* +@all"]
    for role in ROLES.values():
        digest = hashlib.sha256(passwords[role.name].encode()).hexdigest()
        rules = role.acl(queue)
        if redis_version < READ_ONLY_KEYS_SINCE:
            rules = rules.replace("%R~", "~") + ("" if "+@all" in rules else BEFORE_7_CONNECT)
        lines.append(f"user {role.name} on #{digest} resetkeys resetchannels -@all {rules}")
    return "\n".join(lines) + "\n"


def ensure(folder: Path, rotate: bool = False, owner: tuple[int, int] | None = None) -> dict[str, str]:
    """Every password in the owner's `folder` (0700, files 0600): read, made if missing, all new if `rotate`.

    Returns them by file name (redis-<role>..., flower). `owner` (uid, gid) is whom they belong
    to when a container run as root writes them into a host folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    if owner:
        os.chown(folder, *owner)
    found = {}
    for name in [*(secret_name(r) for r in ROLES), FLOWER]:
        path = folder / name
        value = "" if rotate or not path.is_file() else path.read_text().strip()
        if not value:
            value = new_password()
            write_private(path, value, owner=owner)
        found[name] = value
    return found


def passwords_of(found: Mapping[str, str]) -> dict[str, str]:
    """Role -> Redis password, from ensure()'s files."""
    return {role: found[secret_name(role)] for role in ROLES}


def install(found: Mapping[str, str], target: Path, queue: str) -> None:
    """Give each container its own secrets under `target` (a volume every service mounts read-only).

    `<role>/redis_password`, in a folder only that role's uid may enter (0500, file 0400);
    Flower's login password beside its Redis one; Redis' ACL file (hashes only) readable by all,
    since Redis runs as whichever user its image chooses.
    """
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    for role in ROLES.values():
        folder = target / role.name
        if role.uid is None:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        folder.mkdir(exist_ok=True)
        os.chown(folder, 0, 0)
        folder.chmod(0o700)  # closed while it is written
        write_private(folder / "redis_password", found[secret_name(role.name)], 0o400, (role.uid, role.uid))
        if role.name == "flower":
            write_private(folder / "flower_password", found[FLOWER], 0o400, (role.uid, role.uid))
        os.chown(folder, role.uid, role.uid)
        folder.chmod(0o500)
    write_private(target / ACL_FILE, acl_file(passwords_of(found), queue), 0o444, (0, 0))


def open_output(folder: Path, owner: tuple[int, int]) -> None:
    """Let the producer write its files (--trace, --plot) in `folder`, a host folder the clone's `owner` keeps.

    Docker makes a missing bind-mounted folder root's, and the producer's uid is nobody's on the
    host: the owner gets the folder, the producer's group (gid = uid: the Dockerfile's
    --user-group) may write in it, and what it writes (0644) is the owner's to read and delete.
    """
    os.chown(folder, owner[0], ROLES["producer"].uid)  # type: ignore[arg-type]
    folder.chmod(0o775)


def give(role: str, given: Path, target: Path) -> None:
    """Hand one role's password, from a file the host mounted (any owner), to that role's uid under `target`.

    For workers on another host (compose.worker.yml): the main host's redis-worker, copied over.
    """
    password = given.read_text().strip()
    if not password:
        raise ValueError(f"{given} is empty")
    folder = target / role
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, 0, 0)
    folder.chmod(0o700)
    uid = ROLES[role].uid
    write_private(folder / "redis_password", password, 0o400, (uid, uid))  # type: ignore[arg-type]
    os.chown(folder, uid, uid)  # type: ignore[arg-type]
    folder.chmod(0o500)


#: Kubernetes (deploy/kubernetes): the Secret that holds every password, under the owner's
#: file names (redis-<role>..., flower), and the placeholders secret.yaml ships with.
K8S_SECRET, K8S_NAMESPACE = "celery-demo-secrets", "celery-demo"
PLACEHOLDER = "replace-me-before-deploying"


def read_folder(folder: Path) -> dict[str, str]:
    """Every role's Redis password from a folder of files named as the owner's (a Kubernetes Secret's volume)."""
    found = {}
    for role in ROLES:
        value = (folder / secret_name(role)).read_text().strip()
        if not value:
            raise ValueError(f"{folder / secret_name(role)} is empty")
        found[role] = value
    return found


def render_acl(folder: Path, out: Path, queue: str) -> bool:
    """Redis' ACL file at `out` (0400) from the passwords in `folder`; True if any is still a placeholder."""
    passwords = read_folder(folder)
    write_private(out, acl_file(passwords, queue), 0o400)
    return any(PLACEHOLDER in value for value in passwords.values())


def kubernetes_secret() -> dict:
    """A new Secret for deploy/kubernetes: every Redis user's password and Flower's login, all random."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": K8S_SECRET, "namespace": K8S_NAMESPACE,
                         "labels": {"app.kubernetes.io/part-of": "celery-parallelism-demo"}},
            "stringData": {name: new_password() for name in [*(secret_name(r) for r in ROLES), FLOWER]}}


def main(argv: list[str] | None = None) -> int:
    """`python -m settings.roles install|rotate|give`: compose's one-shot `secrets` service, run as root.
    `acl` and `secret`: Kubernetes' (deploy/kubernetes), Redis' users at its pod's start and the Secret."""
    parser = argparse.ArgumentParser(prog="python -m settings.roles", description=main.__doc__)
    parser.add_argument("action", choices=["install", "rotate", "give", "acl", "secret"],
                        help="install: make missing passwords, give each container its own (every `up`); "
                             "rotate: all new, then install; give ROLE: one role's password from --given; "
                             "acl: Redis' ACL file (--out) from a folder of passwords (--passwords); "
                             "secret: print a Kubernetes Secret of new passwords (kubectl apply -f -)")
    parser.add_argument("role", nargs="?", choices=[r for r, role in ROLES.items() if role.uid], default="worker",
                        help="give: the role whose password --given holds")
    parser.add_argument("--owner-dir", type=Path, default=Path("/owner"),
                        help="the owner's folder of passwords (compose mounts SECRETS_DIR, ./secrets.local, here)")
    parser.add_argument("--owner-of", type=Path, default=Path("/project"),
                        help="a path whose owner gets the owner's folder (compose mounts the clone here)")
    parser.add_argument("--given", type=Path, default=Path("/given/redis_password"), help="give: the password file")
    parser.add_argument("--target", type=Path, default=CONTAINER_DIR, help="the containers' secrets volume")
    parser.add_argument("--output-dir", type=Path, default=Path("/out"),
                        help="the producer's output folder, opened to it if mounted (compose: the clone's ./out)")
    parser.add_argument("--passwords", type=Path, default=Path("/passwords"),
                        help="acl: a folder of the passwords' files, named redis-<role> (the Secret's volume)")
    parser.add_argument("--out", type=Path, default=Path("/etc/redis") / ACL_FILE, help="acl: the ACL file to write")
    args = parser.parse_args(argv)
    from settings.model import current  # the workers' settings, checked on every `up`: a bad one stops it here

    try:
        queue = current().queue
    except ValueError as exc:  # settings.SettingError
        print(f"settings: error: {exc}", file=sys.stderr)
        return 1
    if args.action == "secret":
        # JSON is YAML: kubectl reads it. On stdout only, for a pipe: on no command line.
        print(json.dumps(kubernetes_secret(), indent=2))
        return 0
    try:
        if args.action == "acl":
            placeholders = render_acl(args.passwords, args.out, queue)
            print(f"secrets: Redis' users ({', '.join(ROLES)}) in {args.out}, password hashes only")
            if placeholders:
                print(f"secrets: warning: {PLACEHOLDER}: secret.yaml's placeholders are in use; never deploy them "
                      "anywhere real (docs/beyond-one-machine.md, Kubernetes)", file=sys.stderr)
            return 0
        if args.action == "give":
            give(args.role, args.given, args.target)
            print(f"secrets: the {args.role} password from {os.environ.get('GIVEN_SHOWN', args.given)} handed over")
            return 0
        stat = args.owner_of.stat()
        owner = (stat.st_uid, stat.st_gid)
        found = ensure(args.owner_dir, rotate=args.action == "rotate", owner=owner)
        # Redis' users for a swarm stack (stack.yml), made from the owner's folder on the host.
        write_private(args.owner_dir / ACL_FILE, acl_file(passwords_of(found), queue), owner=owner)
        install(found, args.target, queue)
        if args.output_dir.is_dir():
            open_output(args.output_dir, owner)
    except (OSError, ValueError) as exc:
        why = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        print(f"secrets: error: {why}", file=sys.stderr)
        return 1
    print(f"secrets: {'new passwords' if args.action == 'rotate' else 'passwords'} for Redis' users "
          f"({', '.join(ROLES)}) and Flower's login in {os.environ.get('SECRETS_DIR_SHOWN', args.owner_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
