"""The ruler under test: mutants of the reference answers (wrong, valid, equivalent) and their verdicts."""

from __future__ import annotations

from pytest_hepagent.ruler.mutants import KINDS, MUTANTS, Mutant
from pytest_hepagent.ruler.suite import MutantResult, mutant_script, mutation_table, run_mutant, run_mutants

__all__ = ["KINDS", "MUTANTS", "Mutant", "MutantResult", "mutant_script", "mutation_table", "run_mutant", "run_mutants"]
