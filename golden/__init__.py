"""Golden-output manifest and small golden files (installed as `pytest_hepagent.golden_files`)."""
