#!/bin/sh
# Mutation testing of the diagnosis modules (README "Mutation testing"): one bounded mutmut
# run per module, never two at once, then the score per module. The fast test subset is
# [tool.mutmut] pytest_add_cli_args_test_selection in pyproject.toml; mutmut runs, for each
# mutant, only the tests of that subset that call the mutated function.
# Usage: benchmarks/mutation.sh [seconds per module, default 900]
set -u
limit=${1:-900}
for module in rules cause layers layers_l4 facts repairs correlate batch.stats; do
    timeout "$limit" mutmut run "cnfpost.$module.*" || echo "mutmut: $module stopped (exit $?)"
done
python benchmarks/mutation_score.py mutants
