"""Renderers of one report: Markdown, terminal text, and the report's JSON Schema."""
