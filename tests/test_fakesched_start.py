"""engine.start: a front-end's commands on PATH over a configured fake cluster, in one call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from qcsc_prefect.testing.fakesched.engine import FakeScheduler, start

FRONTEND = '''
from qcsc_prefect.testing.fakesched.engine import FakeCluster

COMMANDS = ("onestat", "twostat")


def main(command, argv):
    cluster = FakeCluster.from_env()
    cluster.record_call(command, argv)
    print(command, cluster.config["flavour"], cluster.config["slots"])
    return 0
'''


def test_start_configures_the_cluster_and_puts_the_commands_first_on_path(tmp_path: Path
                                                                          ) -> None:
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    module = site / f"qcsc_start_probe_{os.getpid()}.py"
    module.write_text(FRONTEND)
    try:
        fake = start(tmp_path / "fake", frontend=module.stem, slots=3, flavour="mint")
        env = {**os.environ, "PATH": fake.path}
        outs = [subprocess.run([name, "-x"], capture_output=True, text=True, env=env,
                               check=True, timeout=30).stdout
                for name in ("onestat", "twostat")]
    finally:
        module.unlink()
    assert isinstance(fake, FakeScheduler)
    assert fake.bin_dir == tmp_path / "fake" / "bin"
    assert fake.cluster.root == (tmp_path / "fake" / "state").resolve()
    assert fake.path.split(os.pathsep)[0] == str(fake.bin_dir)
    assert outs == ["onestat mint 3\n", "twostat mint 3\n"]
    assert fake.calls("onestat") == [["-x"]] and fake.calls("twostat") == [["-x"]]
