"""The original's ``qcsc_prefect_blocks.fugaku`` package (qcsc-prefect-compat)."""
