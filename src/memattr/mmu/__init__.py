"""memattr.mmu layer."""
