"""The original's ``qcsc_prefect_blocks.miyabi`` package (qcsc-prefect-compat)."""
