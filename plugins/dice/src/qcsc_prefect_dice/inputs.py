"""``input.dat``: the Dice keywords the plugin writes, one per line.

The text is what qiskit-addon-dice-solver and the original qcsc-prefect write: one root,
``fcidump.txt``, a one-step schedule ``0 <select_cutoff>``, no PT, every determinant
written to ``dets.bin``, the 1- and 2-RDMs (``spin1RDM.0.0.txt`` needs both
``DoOneRDM`` and ``DoSpinOneRDM``) and a ``nocc`` reference line that this Dice build
requires but ignores when it reads ``AlphaDets.bin``.
"""

from __future__ import annotations

import math
import re

from qcsc_prefect.errors import ConfigurationError

#: Largest ``writeBestDeterminants`` Dice accepts (a C ``int``).
MAX_DICE_DIMENSION = 2_147_483_647

#: ``select_cutoff`` that never adds a determinant: Dice only diagonalizes the given space.
FIXED_SPACE_CUTOFF = 2_147_483_647.0

#: Settings of the fixed-space mode (what qiskit-addon-dice-solver's ``solve_sci`` runs):
#: schedule ``0 2147483647`` and a single iteration.
FIXED_SPACE: dict[str, float | int] = {"select_cutoff": FIXED_SPACE_CUTOFF, "max_iter": 1}


def number(value: float) -> str:
    """A setting as Dice reads it (``atof``), written like the addon: ``2147483647``,
    ``0.0005``, ``1e-5``."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", repr(value)).replace("e+", "e")


def check_settings(*, select_cutoff: float, davidson_tol: float, energy_tol: float,
                   max_iter: int, where: str = "DiceSHCISolverJob") -> None:
    """Refuse settings Dice would misread or reject.

    Raises:
        ConfigurationError: Naming the setting and the accepted range.
    """
    for name, value in (("select_cutoff", select_cutoff), ("davidson_tol", davidson_tol),
                        ("energy_tol", energy_tol)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigurationError(f"{where}: {name}: {value!r} must be a positive number")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ConfigurationError(
            f"{where}: max_iter: {max_iter!r} must be an integer >= 1 (Dice needs maxiter "
            "at least the last schedule iteration, 0)")


def render_input_dat(*, norb: int, nelec: tuple[int, int], spin_sq: float | None,
                     select_cutoff: float, davidson_tol: float, energy_tol: float,
                     max_iter: int) -> str:
    """The text of ``input.dat`` (no newline after the final ``end``, like the addon).

    Args:
        norb: Number of spatial orbitals.
        nelec: ``(n_alpha, n_beta)``.
        spin_sq: Written as ``spin <value>`` when given (this Dice build parses the keyword
            but does not use it).
        select_cutoff: The variational epsilon; :data:`FIXED_SPACE_CUTOFF` adds nothing.
        davidson_tol: Davidson convergence tolerance.
        energy_tol: Energy change that ends the iterations (``dE``).
        max_iter: Maximum number of iterations (``maxiter``).

    Raises:
        ConfigurationError: If a setting is out of range.
    """
    check_settings(select_cutoff=select_cutoff, davidson_tol=davidson_tol,
                   energy_tol=energy_tol, max_iter=max_iter)
    dim = min(MAX_DICE_DIMENSION, math.comb(norb, nelec[0]) * math.comb(norb, nelec[1]))
    electrons = nelec[0] + nelec[1]
    lines = ["nroots 1"]
    if spin_sq is not None:
        lines.append(f"spin {number(spin_sq)}")
    lines += [
        "orbitals fcidump.txt",
        "schedule",
        f"0 {number(select_cutoff)}",
        "end",
        f"davidsonTol {number(davidson_tol)}",
        f"dE {number(energy_tol)}",
        f"maxiter {max_iter}",
        "noio",
        f"writeBestDeterminants {dim}",
        "nPTiter 0",
        "DoSpinRDM",
        "DoRDM",
        "DoSpinOneRDM",
        "DoOneRDM",
        f"nocc {electrons}",
        " ".join(str(i) for i in range(electrons)),
        "end",
    ]
    return "\n".join(lines)
