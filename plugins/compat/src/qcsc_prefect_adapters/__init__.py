"""The original's ``qcsc_prefect_adapters`` package (qcsc-prefect-compat)."""
