"""History: synthetic seasons for the demo and the bench, and imports of a city's past cases."""
