"""The original's ``qcsc_prefect_adapters.fugaku.runtime`` (qcsc_prefect_compat.MODULES)."""

from qcsc_prefect_compat import provide

__all__ = provide(__name__, globals())
