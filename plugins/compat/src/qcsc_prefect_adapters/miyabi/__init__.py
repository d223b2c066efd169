"""The original's ``qcsc_prefect_adapters.miyabi`` package (qcsc-prefect-compat)."""
