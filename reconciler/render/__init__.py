"""Renderers: Plan | Report -> str. Pure; they never recompute anything."""
