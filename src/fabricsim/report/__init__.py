"""Rendering of results for people: rich tables in the terminal (HTML reports later)."""
