"""The project's own pytest configuration (fixtures and hypothesis profiles live in tests/conftest.py).

This file is also loaded by benchmark runs started in this checkout (the benchmark module lives under it), so it
stays light: every xdist worker pays for what it imports.
"""

from __future__ import annotations

import contextlib

# litellm imports the `importlib_metadata` backport, which deletes `find_distributions` from the stdlib PathFinder
# and adds its own finder to sys.meta_path. Imported first inside an in-process pytester run, its finder is removed
# again when pytester restores sys.meta_path, and every later run finds no entry-point plugins. Import it here.
with contextlib.suppress(ImportError):
    import importlib_metadata  # noqa: F401
