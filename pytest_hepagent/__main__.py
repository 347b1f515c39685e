"""`python -m pytest_hepagent` is the `hepagent` command."""

from __future__ import annotations

from pytest_hepagent.cli import main

main()
