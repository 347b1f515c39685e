"""The Snakemake workflow, shipped as package data (installed as pytest_hepagent.workflow_files)."""
