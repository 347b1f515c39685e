"""Task specs, one YAML file per step (installed as `pytest_hepagent.task_specs`)."""
