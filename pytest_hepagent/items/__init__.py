"""The benchmark's test module lives here; the hepagent plugin collects it in benchmark mode."""

from __future__ import annotations

from pathlib import Path

BENCHMARK_MODULE = Path(__file__).with_name("test_hepagent_benchmark.py")
