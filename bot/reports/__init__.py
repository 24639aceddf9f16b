"""Reporting (issue 9): the figures, the dashboard, the monthly and annual report, /metrics."""
