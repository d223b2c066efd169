"""The original's ``qcsc_prefect_blocks`` package (qcsc-prefect-compat)."""
