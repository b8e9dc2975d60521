"""Deep Feature Flow core: framework-free (torch only)."""
