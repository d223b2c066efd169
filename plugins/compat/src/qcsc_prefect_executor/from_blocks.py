"""The original's ``qcsc_prefect_executor.from_blocks`` (qcsc_prefect_compat.MODULES)."""

from qcsc_prefect_compat import provide

__all__ = provide(__name__, globals())
