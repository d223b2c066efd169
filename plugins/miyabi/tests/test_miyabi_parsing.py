"""Parsing what only Miyabi prints: per-node memory in ``resources_used.mem_per_nodes``.

The PBS formats every PBS server shares are tested with the ``pbs`` plugin
(``plugins/pbs/tests/test_pbs_parsing.py``).
"""

from __future__ import annotations

from qcsc_prefect import rows
from qcsc_prefect_miyabi.plugin import mem_per_nodes
from qcsc_prefect_pbs import parsing


def test_miyabi_memory_per_node_is_single_quoted_json() -> None:
    record = rows.spliced(parsing.job_record("1.opbs", {
        "resources_used.mem_per_nodes": "'{\"mg0008\": \"2097152kb\", \"mg0010\": \"512mb\"}'",
        "TOKEN": "abc"}), "mem_per_nodes", mem_per_nodes)
    assert list(record)[:4] == ["job_id", "token", "mem_per_nodes:mg0008", "mem_per_nodes:mg0010"]
    assert record["mem_per_nodes:mg0008"] == "2.00000gb"
    assert record["mem_per_nodes:mg0010"] == "0.50000gb"
    assert record["token"] == "abc" and "mem_per_nodes" not in record
    assert mem_per_nodes("'not json'") == {"mem_per_nodes": "'not json'"}
    assert mem_per_nodes("[1]") == {"mem_per_nodes": "[1]"}
