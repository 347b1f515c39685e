"""The Snakemake workflow's engine side: rule inputs/outputs and job commands (`jobs.py`), `hepagent` commands
(`commands.py`). The Snakefile itself ships from the top-level `workflow/` folder."""
