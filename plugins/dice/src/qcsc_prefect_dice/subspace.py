"""Which subspaces this Dice can diagonalize, checked before a job is submitted.

The Dice build both qiskit-addon-dice-solver and the original qcsc-prefect use reads only
``AlphaDets.bin`` and builds the space ``AlphaDets x AlphaDets`` with
``n_alpha = n_beta = NELEC / 2``. A subspace with different alpha and beta strings, or with
``n_alpha != n_beta``, would silently become a different space; it is refused, or, with
``symmetrize_spin=True``, replaced by the (larger) space over the union of the alpha and
beta strings, which is what the caller asked for explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qcsc_prefect.errors import ConfigurationError

from .determinants import as_ci_strings, popcount


def check_nelec(nelec: object) -> tuple[int, int]:
    """``nelec`` as ``(n_alpha, n_beta)`` of non-negative ints, equal for this Dice.

    Raises:
        ConfigurationError: If it is not a pair of counts, or ``n_alpha != n_beta``.
    """
    try:
        n_alpha, n_beta = (int(v) for v in nelec)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ConfigurationError(f"nelec: {nelec!r} is not a pair (n_alpha, n_beta)") from None
    if n_alpha < 0 or n_beta < 0:
        raise ConfigurationError(f"nelec: {nelec!r} holds a negative electron count")
    if n_alpha != n_beta:
        raise ConfigurationError(
            f"nelec: {(n_alpha, n_beta)}: this Dice build solves closed-shell spaces only "
            "(it reads AlphaDets.bin alone and uses n_alpha = n_beta = NELEC/2), so an "
            "open-shell problem would silently become a different one; use a solver that "
            "supports n_alpha != n_beta (qiskit_addon_sqd.fermion.solve_sci_batch)")
    return n_alpha, n_beta


def closed_shell_strings(ci_strings: Sequence[object], *, norb: int, nelec: tuple[int, int],
                         symmetrize_spin: bool = False) -> np.ndarray:
    """The sorted unique CI strings Dice uses for both spins.

    Duplicates are dropped (the space is a set of strings). Alpha and beta strings must be
    the same set unless ``symmetrize_spin`` is true, which uses their union.

    Args:
        ci_strings: ``(strs_a, strs_b)`` integer arrays.
        norb: Number of spatial orbitals.
        nelec: ``(n_alpha, n_beta)``; must be equal.
        symmetrize_spin: Use the union of alpha and beta strings when they differ.

    Returns:
        Sorted unique ``uint64`` strings, written to ``AlphaDets.bin``.

    Raises:
        ConfigurationError: For an open-shell ``nelec``, an empty subspace, a string with
            the wrong number of electrons, or different alpha and beta strings without
            ``symmetrize_spin``.
        OverflowError: If a string cannot be encoded in a Dice record.
    """
    n_alpha, _ = check_nelec(nelec)
    if len(ci_strings) != 2:
        raise ConfigurationError(
            f"ci_strings: expected a pair (strs_a, strs_b), got {len(ci_strings)} items")
    strs = []
    for index, spin in enumerate(("alpha", "beta")):
        where = f"ci_strings[{index}]"
        values = np.unique(as_ci_strings(ci_strings[index], norb=norb, where=where))
        if values.size == 0:
            raise ConfigurationError(f"{where}: no {spin} strings; the subspace is empty")
        counts = popcount(values)
        if (counts != n_alpha).any():
            bad = int(np.argmax(counts != n_alpha))
            raise ConfigurationError(
                f"{where}: string {int(values[bad])} has {int(counts[bad])} {spin} electrons, "
                f"not {n_alpha} (nelec={tuple(nelec)}); Dice would stop with 'not enough 1 "
                "bits' and write nothing")
        strs.append(values)
    alpha, beta = strs
    if np.array_equal(alpha, beta):
        return alpha
    if symmetrize_spin:
        return np.union1d(alpha, beta)
    common = np.intersect1d(alpha, beta).size
    raise ConfigurationError(
        f"ci_strings: the alpha ({alpha.size}) and beta ({beta.size}) strings differ ({common} "
        "in common), but this Dice build diagonalizes AlphaDets x AlphaDets, the same strings "
        "for both spins. Set symmetrize_spin=True on the DiceSHCISolverJob block to use the "
        f"union of both ({np.union1d(alpha, beta).size} strings, a larger space), or pass "
        "symmetrize_spin=True to qiskit_addon_sqd's diagonalize_fermionic_hamiltonian so the "
        "subspaces arrive symmetric")
