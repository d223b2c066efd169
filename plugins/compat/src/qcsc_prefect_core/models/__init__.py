"""The original's ``qcsc_prefect_core.models`` package (qcsc-prefect-compat)."""
