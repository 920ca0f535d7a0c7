"""Evaluation: metrics, threshold choice, breakdowns, curves and reports."""
