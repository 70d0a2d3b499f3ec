"""The suite's processes share the machine, except with a test marked `alone`, and run at most
COMPOSE_AT_ONCE compose projects at a time (tests/scheduling.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.scheduling import SHARE, compose_slot, shared_outside_tests, sharing_the_machine


def enter(folder: Path, alone: bool, log: list[str], name: str, inside: threading.Event | None = None,
          leave: threading.Event | None = None) -> threading.Thread:
    """A test (a thread: flock locks each open file on its own) that logs when it gets in and out."""

    def run() -> None:
        with sharing_the_machine(folder, alone):
            log.append(f"{name} in")
            if inside:
                inside.set()
            if leave:
                leave.wait(5)
            log.append(f"{name} out")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def settle() -> None:
    time.sleep(0.2)  # long enough for a thread that could get in to do so


def test_tests_share_the_room_but_one_alone_waits_for_them_and_keeps_them_out(tmp_path: Path):
    log: list[str] = []
    first_in, let_first_go, alone_in, let_alone_go = (threading.Event() for _ in range(4))
    first = enter(tmp_path, False, log, "first", first_in, let_first_go)
    first_in.wait(5)
    second = enter(tmp_path, False, log, "second")  # shares the room with the first
    second.join(5)
    alone = enter(tmp_path, True, log, "alone", alone_in, let_alone_go)
    settle()
    late = enter(tmp_path, False, log, "late")  # arrives while the alone one waits: waits behind it
    settle()
    assert log == ["first in", "second in", "second out"]  # the alone test waits for the first to leave
    let_first_go.set()
    alone_in.wait(5)
    settle()
    assert log[3:] == ["first out", "alone in"]  # and the late one stays out while it runs
    let_alone_go.set()
    for thread in (first, alone, late):
        thread.join(5)
    assert log[5:] == ["alone out", "late in", "late out"]


def test_two_alone_tests_never_overlap(tmp_path: Path):
    log: list[str] = []
    inside, leave = threading.Event(), threading.Event()
    one = enter(tmp_path, True, log, "one", inside, leave)
    inside.wait(5)
    two = enter(tmp_path, True, log, "two")
    settle()
    assert log == ["one in"]
    leave.set()
    one.join(5)
    two.join(5)
    assert log == ["one in", "one out", "two in", "two out"]


def test_a_third_compose_project_waits_for_one_of_two_slots(tmp_path: Path):
    log: list[str] = []
    done = [threading.Event() for _ in range(3)]
    inside = [threading.Event() for _ in range(3)]

    def project(index: int) -> None:
        with compose_slot(tmp_path, slots=2):
            log.append(f"{index} in")
            inside[index].set()
            done[index].wait(5)
        log.append(f"{index} out")

    threads = [threading.Thread(target=project, args=(i,)) for i in range(3)]
    for index, thread in enumerate(threads):
        thread.start()
        if index < 2:
            inside[index].wait(5)
    settle()
    assert sorted(log) == ["0 in", "1 in"]  # the third waits
    done[1].set()
    inside[2].wait(5)
    assert log[2:] == ["1 out", "2 in"]
    done[0].set()
    done[2].set()
    for thread in threads:
        thread.join(5)
    assert sorted(log) == sorted(["0 in", "1 in", "1 out", "2 in", "0 out", "2 out"])


def test_a_test_waiting_for_a_compose_slot_steps_out_so_an_alone_test_holding_it_can_run(tmp_path: Path):
    """The deadlock this prevents: B shares the room and waits for the slot; A holds the slot (its
    module's compose project) and waits for the room to itself."""
    slots, share = tmp_path / "slots", tmp_path / "share"
    share.mkdir()
    log: list[str] = []
    a_has_slot, b_in_room = threading.Event(), threading.Event()

    def a() -> None:
        with compose_slot(slots, slots=1):
            a_has_slot.set()
            b_in_room.wait(5)
            with sharing_the_machine(share, alone=True):
                log.append("a alone")
        log.append("a gave the slot back")

    def b() -> None:
        a_has_slot.wait(5)
        with sharing_the_machine(share, alone=False):
            b_in_room.set()
            settle()
            with compose_slot(slots, slots=1):
                log.append("b has the slot")

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads), f"deadlocked: {log}"
    assert log == ["a alone", "a gave the slot back", "b has the slot"]


def test_work_outside_any_test_waits_for_an_alone_test_and_inside_a_test_takes_no_second_share(tmp_path: Path,
                                                                                               monkeypatch):
    monkeypatch.setitem(SHARE, "folder", tmp_path)
    log: list[str] = []
    alone_in, let_alone_go = threading.Event(), threading.Event()
    alone = enter(tmp_path, True, log, "alone", alone_in, let_alone_go)
    alone_in.wait(5)

    def compose_up(name: str) -> None:
        with shared_outside_tests():
            log.append(name)

    outside = threading.Thread(target=compose_up, args=("up outside a test",))
    outside.start()
    settle()
    assert log == ["alone in"]  # a module fixture's `up` waits for the alone test
    let_alone_go.set()
    for thread in (alone, outside):
        thread.join(5)
    assert log == ["alone in", "alone out", "up outside a test"]

    # Inside a test, its share covers the command: with an alone test waiting at the turnstile,
    # a second share would wait for ever (the alone test waits for this test's share).
    test_in, let_test_go, waiting_alone_in = (threading.Event() for _ in range(3))

    def a_test() -> None:
        with sharing_the_machine(tmp_path, False):
            test_in.set()
            let_test_go.wait(5)
            compose_up("up inside a test")

    inside = threading.Thread(target=a_test)
    inside.start()
    test_in.wait(5)
    waiting_alone = enter(tmp_path, True, log, "waiting alone", waiting_alone_in)
    settle()
    let_test_go.set()
    inside.join(5)
    waiting_alone.join(5)
    assert log[3:] == ["up inside a test", "waiting alone in", "waiting alone out"]
