"""Streaming a job's stdout/stderr files into the Prefect run log, with bounded memory.

:class:`LogFollower` remembers how far it has read each file and, on every :meth:`pump`,
forwards at most ``chunk_bytes`` of new complete lines per stream as one log record. It
never reads a file whole: once ``max_bytes`` have been forwarded it stops streaming, and
at the end it forwards only the last ``tail_bytes``, saying how much it skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class _Stream:
    label: str
    path: Path
    level: int
    offset: int = 0
    forwarded: int = 0
    partial: bytes = b""
    capped: bool = False


class LogFollower:
    """Forward new lines of a job's output files to a logger."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any],
                 streams: dict[str, Path], *, max_bytes: int = 1 << 20,
                 chunk_bytes: int = 64 << 10, tail_bytes: int = 16 << 10,
                 prefix: str = "") -> None:
        self._logger = logger
        self._streams = [_Stream(label, path, logging.INFO) for label, path in streams.items()]
        self.max_bytes = max_bytes
        self.chunk_bytes = chunk_bytes
        self.tail_bytes = tail_bytes
        self.prefix = prefix

    def pump(self, *, final: bool = False) -> None:
        """Forward what is new; with ``final``, also the unterminated last line."""
        for stream in self._streams:
            try:
                self._pump(stream, final)
            except OSError as exc:  # a vanished or unreadable file must not fail the job
                self._logger.warning("%scannot read %s: %s", self.prefix, stream.path, exc)

    def _pump(self, stream: _Stream, final: bool) -> None:
        try:
            size = stream.path.stat().st_size
        except FileNotFoundError:
            return
        if size < stream.offset:  # truncated or replaced: start over
            stream.offset, stream.partial = 0, b""
        if final:
            remaining = size - stream.offset
            if stream.forwarded + remaining > self.max_bytes and remaining > self.tail_bytes:
                skipped = remaining - self.tail_bytes
                self._emit(stream, f"({skipped} bytes skipped; full file: {stream.path})")
                stream.offset, stream.partial = size - self.tail_bytes, b""
            while stream.offset < size:
                self._read(stream, size)
            self._forward(stream, stream.partial)
            stream.partial = b""
            return
        if stream.forwarded >= self.max_bytes:
            if not stream.capped:
                stream.capped = True
                self._emit(stream, f"(output exceeds {self.max_bytes} bytes; streaming paused, "
                           f"the tail follows when the job ends; full file: {stream.path})")
            return
        if stream.offset < size:
            self._read(stream, size)

    def _read(self, stream: _Stream, size: int) -> None:
        """Read one chunk and forward its complete lines; keep the unterminated rest."""
        with open(stream.path, "rb") as handle:
            handle.seek(stream.offset)
            data = handle.read(min(self.chunk_bytes, size - stream.offset))
        if not data:  # the file shrank under us
            stream.offset = size
            return
        stream.offset += len(data)
        data = stream.partial + data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > self.chunk_bytes:  # one huge line: forward it anyway
            cut = len(data)
        stream.partial = data[cut:]
        self._forward(stream, data[:cut])

    def _forward(self, stream: _Stream, data: bytes) -> None:
        text = data.decode(errors="replace").rstrip("\n")
        if text:
            stream.forwarded += len(data)
            self._emit(stream, text)

    def _emit(self, stream: _Stream, text: str) -> None:
        self._logger.log(stream.level, "%s[%s]\n%s", self.prefix, stream.label, text)


def tail_text(path: Path, *, max_bytes: int = 4096, max_lines: int = 20) -> str:
    """The last lines of a file (at most ``max_bytes`` read), or ``""`` if unreadable."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    lines = data.decode(errors="replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first line is probably cut
    return "\n".join(lines[-max_lines:])
