"""Open311 GeoReport v2: the open standard 311 apps, FixMyStreet and hotlines speak."""
