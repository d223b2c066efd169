"""Take the Prefect UI screenshots of the quickstart from a real run (by hand, not in CI).

Starts a Prefect server on a free port with a fresh home, runs the demo flow
(``examples/hello_flow.py``, the ``local`` target) against it, then opens the UI pages in
headless Chromium and writes PNGs to ``docs/img/``::

    apt-get install chromium                      # Debian; once
    .venv/bin/python docs/screenshots.py          # --out DIR, --chromium PATH, --keep

Everything (server database, job files, local job state, browser profiles) lives in a
temporary directory that is removed afterwards (``--keep`` keeps it and prints where).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--run-all-compositor-stages-before-draw"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(api: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the Prefect server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"the Prefect server did not become healthy in 120 s:\n{log.read_text()}")


def query(api: str, what: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.post(f"{api}/{what}/filter", json=body, timeout=30)
    response.raise_for_status()
    return list(response.json())


def shoot(chromium: str, url: str, png: Path, profile: Path, *, height: int) -> None:
    """One page, rendered for up to 15 s of virtual time, as a 1440-wide PNG."""
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
           f"--window-size=1440,{height}", "--virtual-time-budget=15000",
           f"--screenshot={png}", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or not png.is_file():
        sys.exit(f"chromium failed for {url}:\n{proc.stderr[-2000:]}")
    print(f"wrote {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}  ({url})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        sys.exit(f"no Chromium at {args.chromium}: apt-get install chromium, or --chromium PATH")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="qcsc-screens-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_API_URL": api,
           "DEMO_WORK_DIR": str(tmp / "demo-work"),
           "QCSC_PREFECT_LOCAL_STATE_DIR": str(tmp / "local-state")}
    env.pop("PREFECT_API_URL", None)
    log = tmp / "server.log"
    prefect = str(Path(sys.executable).with_name("prefect"))
    server = subprocess.Popen([prefect, "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log.open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(api, server, log)
        print(f"Prefect server on {api}; running the demo flow")
        subprocess.run([sys.executable, str(ROOT / "examples" / "hello_flow.py")],
                       env={**env, "PREFECT_API_URL": api}, check=True, timeout=600)
        ui = f"http://127.0.0.1:{port}"
        run = query(api, "flow_runs", {"limit": 1, "sort": "START_TIME_DESC"})[0]
        blocks = {d["name"]: d["id"] for d in query(api, "block_documents", {"limit": 50})}
        artifacts = {a["key"]: a["id"] for a in query(api, "artifacts", {"limit": 50})}
        pages = [
            ("ui-blocks.png", "/blocks", 800),
            ("ui-block-hpc-profile.png", f"/blocks/block/{blocks['laptop']}", 800),
            ("ui-flow-run-log.png", f"/runs/flow-run/{run['id']}", 1300),
            ("ui-artifacts.png", "/artifacts", 800),
            ("ui-artifact-metrics.png",
             f"/artifacts/artifact/{artifacts['hello-alice-metrics']}", 1300),
            ("ui-artifact-script.png",
             f"/artifacts/artifact/{artifacts['hello-alice-metrics-script']}", 900),
        ]
        for i, (name, path, height) in enumerate(pages):
            shoot(args.chromium, ui + path, args.out / name, tmp / f"chromium-{i}",
                  height=height)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its workers: our own group
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
