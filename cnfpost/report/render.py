"""The report renderers the CLI and library users call: Markdown and terminal text.

    from cnfpost.report import render
    render.markdown(report)                                # str, deterministic
    render.terminal(report, color=render.use_color(sys.stdout))

Both take the report mapping (a pipeline Report, or the dict its JSON loads back to) and
only lay it out; they never recompute the analysis.
"""
from __future__ import annotations

from .markdown import markdown
from .terminal import terminal, use_color

__all__ = ["markdown", "terminal", "use_color"]
