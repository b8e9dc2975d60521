"""Video/flow data layouts."""
