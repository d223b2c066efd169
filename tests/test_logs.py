"""LogFollower forwards new output incrementally and never more than its bounds."""

from __future__ import annotations

import logging
import tracemalloc
from pathlib import Path

import pytest

from qcsc_prefect.logs import LogFollower


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def collected() -> tuple[logging.Logger, Collect]:
    logger = logging.getLogger(f"test-logs-{id(object())}")
    logger.propagate = False
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, handler


def bodies(handler: Collect) -> str:
    return "\n".join(m.split("\n", 1)[1] for m in handler.messages if "\n" in m)


def test_forwards_only_new_complete_lines(tmp_path: Path, collected: tuple) -> None:
    logger, handler = collected
    out = tmp_path / "job.out"
    follower = LogFollower(logger, {"stdout": out})
    follower.pump()  # file not there yet: nothing, no error
    out.write_text("one\ntw")
    follower.pump()
    assert bodies(handler) == "one"
    with out.open("a") as f:
        f.write("o\nthree\n")
    follower.pump()
    assert bodies(handler) == "one\ntwo\nthree"
    follower.pump(final=True)
    assert bodies(handler) == "one\ntwo\nthree"
    assert all(m.startswith("[stdout]") for m in handler.messages)


def test_final_pump_flushes_unterminated_line(tmp_path: Path, collected: tuple) -> None:
    logger, handler = collected
    out = tmp_path / "job.out"
    out.write_text("no newline at end")
    follower = LogFollower(logger, {"stdout": out})
    follower.pump()
    assert handler.messages == []
    follower.pump(final=True)
    assert bodies(handler) == "no newline at end"


def test_huge_output_is_capped_and_only_the_tail_follows(tmp_path: Path,
                                                         collected: tuple) -> None:
    logger, handler = collected
    out = tmp_path / "big.out"
    line = "x" * 99 + "\n"
    out.write_text(line * 200_000 + "THE END\n")  # ~20 MB
    follower = LogFollower(logger, {"stdout": out}, max_bytes=64_000, chunk_bytes=16_000,
                           tail_bytes=4_000)
    for _ in range(20):
        follower.pump()
    streamed = sum(len(m) for m in handler.messages)
    assert streamed < 64_000 + 16_000 + 1_000
    assert any("streaming paused" in m for m in handler.messages)
    follower.pump(final=True)
    assert any("bytes skipped" in m for m in handler.messages)
    assert handler.messages[-1].endswith("THE END")
    assert sum(len(m) for m in handler.messages) < 64_000 + 16_000 + 4_000 + 2_000


def test_one_enormous_line_is_forwarded_in_chunks(tmp_path: Path, collected: tuple) -> None:
    logger, handler = collected
    out = tmp_path / "line.out"
    out.write_text("y" * 50_000)
    follower = LogFollower(logger, {"stdout": out}, chunk_bytes=10_000)
    for _ in range(3):
        follower.pump()
    assert all(len(m) < 10_000 * 2 + 100 for m in handler.messages)
    assert handler.messages, "a long line without newline must not be held forever"


def test_truncated_file_is_read_from_the_start_again(tmp_path: Path, collected: tuple) -> None:
    logger, handler = collected
    out = tmp_path / "job.out"
    out.write_text("first run\n")
    follower = LogFollower(logger, {"stdout": out})
    follower.pump()
    out.write_text("new\n")
    follower.pump()
    assert bodies(handler) == "first run\nnew"


def test_memory_stays_bounded_on_a_large_output(tmp_path: Path, collected: tuple) -> None:
    """A 200 MB output is followed in a few MB (the forwarded 1 MB included), never read whole."""
    logger, handler = collected
    out = tmp_path / "huge.out"
    block = (("z" * 127 + "\n") * 8192).encode()  # 1 MB of lines
    with open(out, "wb") as handle:
        for _ in range(200):
            handle.write(block)
        handle.write(b"LAST LINE\n")
    follower = LogFollower(logger, {"stdout": out})
    tracemalloc.start()
    try:
        for _ in range(50):
            follower.pump()
        follower.pump(final=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The collected log records alone hold max_bytes (1 MB) of text; reading the file whole,
    # or all new data at once, would need 200 MB.
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while following a 200 MB file"
    assert handler.messages[-1].endswith("LAST LINE")
