"""Relay a TCP port into another network namespace, for tests whose jobs run in one.

A scheduler that runs in its own network namespace (the local OpenPBS of
``plugins/pbs/scripts/local-pbs.sh``) starts jobs that see only that namespace's ``lo``: a
flow run inside such a job cannot reach the Prefect API the test started on the host's
``127.0.0.1:<port>``. The filesystem is shared, so a unix socket carries the traffic across::

    inside the namespace                 shared /tmp             on the host
    127.0.0.1:<port> --(relay)--> /tmp/.../relay.sock --(relay)--> 127.0.0.1:<port>

:func:`namespace_relay` starts both halves as processes and ends them when its block ends;
the same URL (``http://127.0.0.1:<port>/api``) then works on both sides::

    with namespace_relay(prefect_api_url, enter=["bash", "local-pbs.sh", "exec"]):
        ...  # jobs in the namespace reach the API

``enter`` is the command prefix that runs a command inside the namespace (``nsenter
--target PID --net ...``, ``ip netns exec NAME``, ``local-pbs.sh exec``).

Each half is this file run as a script (standard library only, so it needs no package on
the namespace's side): ``python nsrelay.py LISTEN TARGET [--until-stdin-closes]``, where
each endpoint is ``tcp:HOST:PORT`` or ``unix:PATH``. It prints one line, ``listening on
LISTEN``, once it accepts connections, forwards each connection to a new one to
``TARGET`` (both directions, half-closes passed on), and with ``--until-stdin-closes``
exits when its standard input reaches end of file, so a relay whose starter died (even by
``SIGKILL``) does not outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["Endpoint", "namespace_relay", "parse_endpoint", "relay", "start_relay", "stop_relay"]

#: Bytes read at a time from either side of a relayed connection.
CHUNK = 1 << 16


@dataclass(frozen=True)
class Endpoint:
    """Where a relay listens or connects: ``tcp:HOST:PORT`` or ``unix:PATH``."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp:{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """``tcp:HOST:PORT`` or ``unix:PATH`` as an :class:`Endpoint`.

    Raises:
        ValueError: Neither form.
    """
    kind, _, rest = text.partition(":")
    if kind == "unix" and rest:
        return Endpoint("unix", path=rest)
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return Endpoint("tcp", host=host.strip("[]"), port=int(port))
    raise ValueError(f"{text!r}: expected tcp:HOST:PORT or unix:PATH")


async def _open(target: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if target.kind == "unix":
        return await asyncio.open_unix_connection(target.path)
    return await asyncio.open_connection(target.host, target.port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until end of file, then half-close ``writer``."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


async def _serve_one(target: Endpoint, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    try:
        up_reader, up_writer = await _open(target)
    except OSError as exc:
        print(f"nsrelay: cannot connect to {target}: {exc}", file=sys.stderr, flush=True)
        writer.close()
        return
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        for w in (writer, up_writer):
            w.close()
            with contextlib.suppress(ConnectionError, OSError):
                await w.wait_closed()


async def _stdin_closed() -> None:
    """Return when standard input reaches end of file."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            while os.read(sys.stdin.fileno(), CHUNK):
                pass
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch, name="nsrelay-stdin", daemon=True).start()
    await done.wait()


async def relay(listen: Endpoint, target: Endpoint, *, until_stdin_closes: bool = False,
                announce: bool = True) -> None:
    """Accept connections on ``listen`` and relay each to a new connection to ``target``.

    Runs until cancelled, or with ``until_stdin_closes`` until standard input ends.
    ``announce`` prints ``listening on LISTEN`` on stdout once connections are accepted.
    """
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_one(target, reader, writer)

    server: asyncio.AbstractServer
    if listen.kind == "unix":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(listen.path)
        server = await asyncio.start_unix_server(handle, listen.path)
    else:
        server = await asyncio.start_server(handle, listen.host, listen.port,
                                            reuse_address=True)
    async with server:
        if announce:
            print(f"listening on {listen}", flush=True)
        if until_stdin_closes:
            await _stdin_closed()
        else:
            await server.serve_forever()
    if listen.kind == "unix":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(listen.path)


def main(argv: Sequence[str] | None = None) -> int:
    """``nsrelay.py LISTEN TARGET [--until-stdin-closes]`` (see the module's doc)."""
    args = list(sys.argv[1:] if argv is None else argv)
    until = "--until-stdin-closes" in args
    args = [a for a in args if a != "--until-stdin-closes"]
    if len(args) != 2:
        print("usage: nsrelay.py LISTEN TARGET [--until-stdin-closes]  "
              "(endpoints: tcp:HOST:PORT or unix:PATH)", file=sys.stderr)
        return 2
    try:
        listen, target = parse_endpoint(args[0]), parse_endpoint(args[1])
    except ValueError as exc:
        print(f"nsrelay: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(relay(listen, target, until_stdin_closes=until))
    return 0


# -- starting relays as processes --------------------------------------------------------


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """End a relay started by :func:`start_relay`: close its stdin, then signal its group."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    for sig in (signal.SIGTERM, signal.SIGKILL):  # also what runs under an `enter` wrapper
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.stdout is not None:
        proc.stdout.close()


def start_relay(listen: str, target: str, *, enter: Sequence[str] = (),
                python: str = sys.executable, timeout: float = 30.0,
                log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start one relay process (under ``enter`` if given) and wait until it listens.

    The process runs in its own process group and ends when its stdin is closed; stop it
    with :func:`stop_relay`.

    Args:
        listen: Endpoint to listen on (``tcp:HOST:PORT`` or ``unix:PATH``).
        target: Endpoint each connection is relayed to.
        enter: Command prefix that runs the relay elsewhere (inside a namespace).
        python: The interpreter that runs this file.
        timeout: Seconds to wait for the ``listening on`` line.
        log: File for the relay's stderr (default: discarded).

    Raises:
        RuntimeError: The relay exited or did not listen in time (its stderr is in
            ``log``).
    """
    argv = [*enter, python, "-I", os.path.abspath(__file__), listen, target,
            "--until-stdin-closes"]
    with open(log or os.devnull, "ab") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True)
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    reader.join(timeout)
    if not line or not line[0].startswith(b"listening on"):
        _stop(proc, grace=1.0)
        raise RuntimeError(f"the relay {listen} -> {target} did not start ({argv}: "
                           f"{(line or [b'no answer in time'])[0]!r}; exit {proc.returncode}"
                           f"{f'; see {log}' if log else ''})")
    return proc


def stop_relay(proc: subprocess.Popen[bytes]) -> None:
    """End a relay from :func:`start_relay` (and whatever runs in its process group)."""
    _stop(proc)


@contextlib.contextmanager
def namespace_relay(url_or_port: str | int, enter: Sequence[str], *,
                    python: str = sys.executable, timeout: float = 30.0,
                    log_dir: Path | None = None) -> Iterator[int]:
    """Make the host's ``127.0.0.1:<port>`` reachable at the same address in a namespace.

    Starts a host relay (unix socket in a fresh directory under the temporary directory,
    which the namespace must share, to ``127.0.0.1:<port>``) and one inside the namespace
    (``127.0.0.1:<port>`` to that socket), run with the ``enter`` prefix. Both are ended,
    and the socket directory removed, when the block ends.

    Args:
        url_or_port: The port, or a URL naming it (``http://127.0.0.1:4200/api``).
        enter: Command prefix that runs a command inside the namespace.
        python: Interpreter for both relays (must exist at that path in the namespace).
        timeout: Seconds each relay may take to start listening.
        log_dir: Where the relays' stderr goes (``host.log``, ``namespace.log``).

    Yields:
        The port.
    """
    port = url_or_port if isinstance(url_or_port, int) else urlsplit(url_or_port).port
    if not port:
        raise ValueError(f"{url_or_port!r} names no port")
    sock_dir = tempfile.mkdtemp(prefix="qcsc-nsrelay-")
    sock = os.path.join(sock_dir, "relay.sock")
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(start_relay(f"unix:{sock}", f"tcp:127.0.0.1:{port}", python=python,
                                   timeout=timeout,
                                   log=log_dir / "host.log" if log_dir else None))
        started.append(start_relay(f"tcp:127.0.0.1:{port}", f"unix:{sock}", enter=enter,
                                   python=python, timeout=timeout,
                                   log=log_dir / "namespace.log" if log_dir else None))
        yield port
    finally:
        for proc in reversed(started):
            _stop(proc)
        shutil.rmtree(sock_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
