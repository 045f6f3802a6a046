"""memattr.report layer."""
