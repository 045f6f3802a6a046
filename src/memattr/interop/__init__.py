"""memattr.interop layer."""
