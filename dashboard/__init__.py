"""The Streamlit dashboard for department heads and grid staff (read-only)."""
