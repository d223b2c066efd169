"""The original's ``qcsc_prefect_core`` package (qcsc-prefect-compat)."""
