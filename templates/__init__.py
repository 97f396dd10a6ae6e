"""Jinja2 templates of the generated C (data files; this file makes them importable)."""
