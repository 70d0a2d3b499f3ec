"""strace's output read into Redis round trips per process (benchmarks.round_trips.count_sends). Pure."""

from __future__ import annotations

from benchmarks.round_trips import count_sends


def test_sends_are_counted_per_process_in_both_of_straces_forms():
    lines = [
        '812   sendto(7, "*2\\r\\n$3\\r\\nGET\\r\\n", 22, 0, NULL, 0) = 22',
        '[pid   813] sendto(9, "*1\\r\\n$4\\r\\nPING\\r\\n", 14, 0, NULL, 0) = 14',
        "813   sendto(9, ...) = -1 EAGAIN (Resource temporarily unavailable)",  # sent nothing
        '813   sendto(9, "*1\\r\\n$4\\r\\nPING\\r\\n", 14, 0, NULL, 0 <unfinished ...>',
        "813   <... sendto resumed>) = 14",
        "812   write(5, ...) = 10",  # a pipe to the pool process: not Redis
        "812   +++ exited with 0 +++",
        "not strace at all",
        "",
    ]
    assert count_sends(lines) == {812: 1, 813: 2}
