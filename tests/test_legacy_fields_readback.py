"""The original's HPCProfileBlock fields read back from ``target_options``.

``HPCProfileBlock(gfscache=...)`` moves the value into ``target_options`` (with a
DeprecationWarning); ``hpc.gfscache`` returns it again, with a DeprecationWarning that names
the new place, before and after a save/load round trip through a real Prefect API. Unset,
or on a profile of another target, each field reads as the original's default.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest

from qcsc_prefect import HPCProfileBlock
from qcsc_prefect.compat.fields import LEGACY_TARGET_FIELDS

#: Each mapped field: its target, a value in the original's form, where it lives now (the
#: DeprecationWarning names it) and the original's default.
FIELDS: dict[str, tuple[str, Any, str, Any]] = {
    "gfscache": ("fugaku", "/vol0004:/vol0005", "target_options['gfscache']", None),
    "spack_modules": ("fugaku", ["py-numpy@1.26"], "target_options['spack_modules']", []),
    "mpi_options_for_pjm": ("fugaku", ["max-proc-per-node=4"],
                            "target_options['mpi_options_for_pjm']", []),
    "pjm_resources": ("fugaku", ["freq=2200"], "target_options['pjm_resources']", []),
    "slurm_qpu": ("slurm", "ibm_kingston", "target_options['qpu']", None),
    "slurm_memory": ("slurm", "4G", "target_options['extra_directives'] entry '--mem=...'",
                     None),
    "slurm_ntasks": ("slurm", 8, "target_options['extra_directives'] entry '--ntasks=...'",
                     None),
    "slurm_extra_directives": ("slurm", ["--exclusive", "--gres=gpu:1"],
                               "target_options['extra_directives']", []),
}


def make(target: str, **fields: Any) -> HPCProfileBlock:
    """An HPC profile; an original field given here warns (moved or ignored)."""
    moved_or_ignored = r"HPCProfileBlock\.\w+(=.*)? is (now|a \w+ setting)"
    with pytest.warns(DeprecationWarning, match=moved_or_ignored) if set(fields) & set(FIELDS) \
            else warnings.catch_warnings():
        return HPCProfileBlock(hpc_target=target, project_cpu="grp", **fields)


def read(block: HPCProfileBlock, field: str) -> Any:
    """``block.<field>``, checking the warning: names the new place, points at the caller."""
    place = FIELDS[field][2]
    with pytest.warns(DeprecationWarning,
                      match=rf"HPCProfileBlock\.{field} is deprecated: read "
                            rf"{re.escape(place)} of the {FIELDS[field][0]} target") as seen:
        value = getattr(block, field)
    assert seen[0].filename == __file__
    return value


def test_every_mapped_field_is_covered() -> None:
    assert set(FIELDS) == set(LEGACY_TARGET_FIELDS)


@pytest.mark.parametrize("field", FIELDS)
def test_a_field_given_the_original_way_reads_back(field: str) -> None:
    target, value, _, _ = FIELDS[field]
    assert read(make(target, **{field: value}), field) == value


@pytest.mark.parametrize("field", FIELDS)
def test_an_unset_field_reads_as_the_originals_default(field: str) -> None:
    target, _, _, default = FIELDS[field]
    assert read(make(target), field) == default


@pytest.mark.parametrize("field", FIELDS)
def test_another_targets_field_reads_as_the_default(field: str) -> None:
    target, value, _, default = FIELDS[field]
    other = "slurm" if target == "fugaku" else "fugaku"
    block = make(other, target_options={"extra_directives": ["--mem=1G"]}
                 if other == "slurm" else {"gfscache": "/vol0004"})
    assert read(block, field) == default
    # Given the original way on the wrong target it was ignored, and still is.
    assert read(make("miyabi", **{field: value}), field) == default


def test_options_written_the_new_way_read_back_under_the_old_names() -> None:
    slurm = make("slurm", target_options={
        "qpu": "kobe", "extra_directives": ["--mem=8G", "--ntasks=16", "--exclusive"]})
    assert read(slurm, "slurm_qpu") == "kobe"
    assert read(slurm, "slurm_memory") == "8G"
    assert read(slurm, "slurm_ntasks") == 16
    assert read(slurm, "slurm_extra_directives") == ["--exclusive"]
    fugaku = make("fugaku", target_options={"gfscache": "/vol0004", "spack_modules": ["a"]})
    assert (read(fugaku, "gfscache"), read(fugaku, "spack_modules")) == ("/vol0004", ["a"])


def test_read_back_values_are_copies() -> None:
    block = make("fugaku", spack_modules=["a"])
    read(block, "spack_modules").append("b")
    read(make("fugaku"), "pjm_resources").append("c")
    assert block.target_options["spack_modules"] == ["a"]
    assert read(make("fugaku"), "pjm_resources") == []


def test_the_fields_are_not_block_fields() -> None:
    """Read-only views: the block's schema, dump and documents are unchanged."""
    block = make("fugaku", gfscache="/vol0004")
    assert not set(FIELDS) & set(HPCProfileBlock.model_fields)
    assert not set(FIELDS) & set(block.model_dump())
    assert not set(FIELDS) & set(HPCProfileBlock.model_json_schema()["properties"])
    with pytest.raises(AttributeError):
        block.gfscache = "/vol0005"


async def test_fields_read_back_after_a_save_and_load(prefect_api: str) -> None:
    fugaku = make("fugaku", **{f: v for f, (t, v, _, _) in FIELDS.items() if t == "fugaku"})
    slurm = make("slurm", **{f: v for f, (t, v, _, _) in FIELDS.items() if t == "slurm"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await fugaku.asave("readback-fugaku", overwrite=True)
        await slurm.asave("readback-slurm", overwrite=True)
        loaded: dict[str, HPCProfileBlock] = {
            target: await HPCProfileBlock.aload(f"readback-{target}")
            for target in ("fugaku", "slurm")}
    assert not [w for w in caught if "is deprecated: read" in str(w.message)], \
        "saving or loading a block read the deprecated fields"
    for field, (target, value, _, _) in FIELDS.items():
        assert read(loaded[target], field) == value
    assert loaded["slurm"].target_options == {
        "qpu": "ibm_kingston", "extra_directives": ["--mem=4G", "--ntasks=8", "--exclusive",
                                                    "--gres=gpu:1"]}
