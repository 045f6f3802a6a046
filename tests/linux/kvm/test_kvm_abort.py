"""Tests for memattr.linux.kvm.abort: ISV per instruction class and the ESR KVM sees."""

from __future__ import annotations

import pytest

from memattr.arch.combine import Access
from memattr.arch.esr import decode_esr
from memattr.errors import ConfigError
from memattr.linux.kvm.abort import GuestAccess, InstrClass, esr_isv


@pytest.mark.parametrize("instr", list(InstrClass))
def test_isv_only_for_single_register_without_writeback(instr: InstrClass) -> None:
    """ISV=1 only for a single general-purpose register load/store without writeback."""
    assert esr_isv(instr) == (instr is InstrClass.LDR_STR)


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_esr_round_trip(size: int) -> None:
    """The ESR of a decodable store has ISV, SAS, WnR and a level-3 translation fault."""
    syn = decode_esr(GuestAccess.write(size).esr())
    assert syn.isv and syn.wnr and syn.sas == size.bit_length() - 1
    assert syn.fsc is not None and syn.fsc.level == 3


def test_esr_flags() -> None:
    """LDP gives ISV=0; a DC op sets CM; an instruction fetch gives an instruction abort."""
    assert not decode_esr(GuestAccess(Access.READ, 16, InstrClass.LDP_STP).esr()).isv
    assert decode_esr(GuestAccess(Access.READ, 8, InstrClass.CACHE_MAINTENANCE).esr()).cm
    syn = decode_esr(GuestAccess.fetch().esr())
    assert syn.ec_name == "IABT_LOW"
    assert GuestAccess(Access.IFETCH).instr is InstrClass.IFETCH
    assert GuestAccess(Access.TTW).s1ptw and not GuestAccess(Access.TTW).isv
    with pytest.raises(ConfigError):
        GuestAccess(size=0)
