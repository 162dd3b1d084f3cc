"""What each dashboard page loads, as plain functions of a session: no Streamlit, no layout.

One module per page (as in ``dashboard.views``), and ``figures`` for what the pages share.
``dashboard.data`` caches these for the pages; ``urbangrid bench dashboard`` times them as they
are. Every figure comes from ``urbangrid.evaluation``, the functions behind the metrics API.
"""
