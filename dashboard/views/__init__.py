"""The dashboard pages: layout only; their data comes from ``dashboard.data``."""
