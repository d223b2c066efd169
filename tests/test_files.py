"""``qcsc_prefect.files.write_atomic``: readers see the old content or the new, never a mix."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from qcsc_prefect.files import write_atomic


def test_text_and_bytes_replace_the_file_and_leave_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_atomic(path, "first")
    write_atomic(path, "zweite — second")
    assert path.read_text(encoding="utf-8") == "zweite — second"
    write_atomic(str(path), b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    path = tmp_path / "state"
    write_atomic(path, "old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "\ud800")  # a lone surrogate cannot be encoded
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state"]


def test_concurrent_writers_in_one_process_do_not_share_a_temporary(tmp_path: Path) -> None:
    path = tmp_path / "shared"
    texts = [str(i) * 100_000 for i in range(8)]
    errors: list[BaseException] = []

    def write(text: str) -> None:
        try:
            for _ in range(20):
                write_atomic(path, text)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert path.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["shared"]
