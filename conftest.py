pytest_plugins = ["qcsc_prefect.testing.fixtures"]
