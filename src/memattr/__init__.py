"""memattr: an executable, bit-accurate model of Arm64 memory attributes under KVM.

Layers (lower never imports higher): arch -> mmu -> platform -> linux -> analysis ->
interop / report -> cli.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
