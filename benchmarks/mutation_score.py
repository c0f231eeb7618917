"""The mutation score per module from mutmut's results (mutants/**/*.py.meta).

Killed: a test failed (or timed out) with the mutant in place. Survived: every selected test
passed. No tests: no test in the fast subset ([tool.mutmut] in pyproject.toml) runs the
mutated function; those are reported apart, not counted in the score. Not run: the bounded
run ended first. Usage: python benchmarks/mutation_score.py [mutants]
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

def kind(code) -> str:
    if code is None:
        return "not run"
    if code == 0:
        return "survived"
    if code == 33:
        return "no tests"
    if code == 34:
        return "skipped"
    return "killed"


def main(root: str = "mutants") -> None:
    total = Counter()
    print(f"{'module':<22}{'killed':>8}{'survived':>10}{'score':>8}{'no tests':>10}"
          f"{'not run':>9}")
    for meta in sorted(Path(root).rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        c = Counter(kind(v) for v in codes.values())
        total.update(c)
        judged = c["killed"] + c["survived"]
        score = f"{100.0 * c['killed'] / judged:.1f}%" if judged else "—"
        name = meta.relative_to(root).as_posix().removesuffix(".meta")
        print(f"{name:<22}{c['killed']:>8}{c['survived']:>10}{score:>8}{c['no tests']:>10}"
              f"{c['not run']:>9}")
    judged = total["killed"] + total["survived"]
    score = f"{100.0 * total['killed'] / judged:.1f}%" if judged else "—"
    print(f"{'all':<22}{total['killed']:>8}{total['survived']:>10}{score:>8}"
          f"{total['no tests']:>10}{total['not run']:>9}")


if __name__ == "__main__":
    main(*sys.argv[1:])
