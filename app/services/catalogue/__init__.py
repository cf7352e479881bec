"""Service catalogue use-cases: departments, regions, service items, zones, bundles, search."""
