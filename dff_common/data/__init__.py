"""Video/flow data layouts."""

__all__ = ["flying_chairs", "synthetic"]
