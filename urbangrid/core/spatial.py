"""The one bridge between stored geometries and Shapely.

On PostgreSQL a geometry column is a PostGIS ``geometry(<kind>, 4326)`` declared through
GeoAlchemy2 (so it gets PostGIS operators and a GIST index); on SQLite it is the geometry's WKB
in a BLOB, since the embedded default has no spatial extension and assignment happens in
Shapely anyway. Either way Python code only ever sees Shapely geometries.
"""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2 import Geometry as PostGISGeometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SRID = 4326


class Geometry(TypeDecorator[BaseGeometry]):
    """A WGS84 geometry column: PostGIS on PostgreSQL, WKB bytes elsewhere."""

    impl = LargeBinary
    cache_ok = True
    # Read by GeoAlchemy2's DDL hooks: our migrations create the GIST indexes themselves.
    spatial_index = False
    use_N_D_index = False
    use_typmod = True

    def __init__(self, geometry_type: str = "GEOMETRY") -> None:
        super().__init__()
        self.geometry_type = geometry_type

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        # GeoAlchemy2's DDL hooks ask with no dialect to learn whether the column is spatial.
        if dialect is None or dialect.name == "postgresql":
            # The GIST index is created by the migration, so GeoAlchemy2 must not add its own.
            spatial = PostGISGeometry(self.geometry_type, srid=SRID, spatial_index=False)
            return spatial if dialect is None else dialect.type_descriptor(spatial)
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            # Hex EWKB is accepted by PostGIS's geometry input as is, with its SRID.
            return shapely.to_wkb(shapely.set_srid(value, SRID), hex=True, include_srid=True)
        return shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        if hasattr(value, "data"):  # a GeoAlchemy2 WKBElement
            value = value.data
        if isinstance(value, memoryview):
            value = bytes(value)
        geometry: BaseGeometry = shapely.from_wkb(value)
        return geometry
