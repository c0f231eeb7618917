"""The JSON Schema of the report (report/schema.json, draft 2020-12), and a check against it.

    from cnfpost.report import schema
    schema.validate(report.to_dict())   # raises jsonschema.ValidationError when it does not fit

The schema ships in the package; jsonschema does not (it is in the ``test`` extra), so it
is imported only when validate() runs.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

__all__ = ["load", "validate"]


@lru_cache(maxsize=1)
def _text() -> str:
    return resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")


def load() -> dict:
    """The schema as a fresh dict."""
    return json.loads(_text())


def validate(report_dict: dict) -> None:
    """Check a report (the plain dict: Report.to_dict() or its JSON loaded back).

    Raises jsonschema.ValidationError for the most relevant problem, with its JSON path.
    """
    import jsonschema  # test extra only: see the module docstring

    validator = jsonschema.Draft202012Validator(load())
    error = jsonschema.exceptions.best_match(validator.iter_errors(report_dict))
    if error is not None:
        raise error
