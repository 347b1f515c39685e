"""Configuration of the project's own test suite."""

from __future__ import annotations

import os

from hypothesis import settings

# Shared machines are noisy: property tests check behaviour, not speed.
settings.register_profile("ci", deadline=None, max_examples=200, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
