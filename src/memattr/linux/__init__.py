"""memattr.linux layer."""
