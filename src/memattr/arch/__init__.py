"""Pure architecture: memory types, MAIR_ELx, VMSAv8-64 descriptors, S1 x S2 combining (no Linux)."""
