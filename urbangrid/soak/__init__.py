"""``urbangrid soak``: a running stack driven by residents, 311 apps and staff, with faults."""
