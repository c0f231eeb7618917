#!/bin/sh
# Mutation testing of the diagnosis modules (README "Mutation testing"): one bounded mutmut
# run per module, never two at once, then the score per module. The fast test subset is
# [tool.mutmut] pytest_add_cli_args_test_selection in pyproject.toml; mutmut runs, for each
# mutant, only the tests of that subset that call the mutated function.
# Usage: benchmarks/mutation.sh [seconds per module, default 1800]
# MUTMUT_CHILDREN (default 1) bounds the parallel mutants: the project machine has 2 CPUs.
set -u
limit=${1:-1800}
children=${MUTMUT_CHILDREN:-1}
for module in rules cause correlate layers batch.stats layers_l4 facts repairs; do
    timeout "$limit" mutmut run --max-children "$children" "cnfpost.$module.*" \
        || echo "mutmut: $module stopped (exit $?)"
done
python benchmarks/mutation_score.py mutants
