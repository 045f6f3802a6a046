"""memattr.analysis layer."""
