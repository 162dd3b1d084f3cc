"""The four-level city grid: import, generate, validate and assign points to areas.

Pure functions over shapely arrays; `geo.store` is the only module that touches the database.
"""
