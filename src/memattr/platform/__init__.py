"""memattr.platform layer."""
