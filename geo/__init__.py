"""The four-level city grid: import, generate, validate and assign points to areas.

Pure functions over shapely and numpy arrays: nothing here opens a database session.
`urbangrid.grids` is the bridge that stores grid versions and maps their assignment index.
"""
