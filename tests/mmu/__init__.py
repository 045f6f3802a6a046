"""Tests of memattr.mmu (a package so that its module names do not clash with tests/arch and tests/cli)."""
