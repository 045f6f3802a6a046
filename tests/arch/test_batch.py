"""The vectorised batch path (memattr.arch.batch) gives the scalar rules' answer for every input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import arch_mair_bytes, arch_s2_memattrs

from memattr.arch import batch
from memattr.arch.combine import Controls, Resolution, resolve
from memattr.errors import EncodingError

_CONTROLS = {(f, c): Controls(fwb=f, cd=c) for f in (False, True) for c in (False, True)}


def scalar(s1: int, s2: int, fwb: bool, cd: bool) -> Resolution:
    """The scalar answer the table must reproduce (SH1 = SH2 = ISH, data read)."""
    return resolve(s1, s2, sh1=0b11, sh2=0b11, controls=_CONTROLS[fwb, cd])


def same(a: Resolution, b: Resolution) -> bool:
    return (a.outcomes, a.reserved, a.faults) == (b.outcomes, b.reserved, b.faults)


def test_exhaustive_matches_resolve() -> None:
    """Every one of the 16,384 inputs gets the outcome combine.resolve gives it."""
    grid = np.indices((2, 2, 256, 16)).reshape(4, -1)
    fwb, cd, s1, s2 = grid
    ids = batch.combine_batch(s1.astype(np.uint8), s2.astype(np.uint8), fwb.astype(bool),
                              cd.astype(bool))
    assert ids.shape == (batch.TABLE_SIZE,)
    table = batch.outcome_table()
    for k in range(batch.TABLE_SIZE):
        f, c, a, b = bool(fwb[k]), bool(cd[k]), int(s1[k]), int(s2[k])
        assert batch.table_index(f, c, a, b) == k
        assert same(table[ids[k]], scalar(a, b, f, c)), (f, c, hex(a), hex(b))


inputs = st.lists(
    st.tuples(arch_mair_bytes(), arch_s2_memattrs(), st.booleans(), st.booleans()),
    min_size=1, max_size=64,
)


@settings(max_examples=60, deadline=None)
@given(inputs, st.sampled_from([np.uint8, np.uint16, np.int32, np.int64]))
def test_random_arrays_match_resolve(rows: list[tuple[int, int, bool, bool]], dtype: type) -> None:
    """For random (s1, s2, fwb, cd) arrays, each batch outcome equals the scalar one."""
    s1, s2, fwb, cd = (np.array(col) for col in zip(*rows, strict=True))
    ids = batch.combine_batch(s1.astype(dtype), s2.astype(dtype), fwb, cd)
    table = batch.outcome_table()
    for k, (a, b, f, c) in enumerate(rows):
        assert same(table[ids[k]], scalar(a, b, f, c))


@settings(max_examples=30, deadline=None)
@given(inputs, st.booleans(), st.booleans())
def test_scalar_flags_broadcast(rows: list[tuple[int, int, bool, bool]], fwb: bool, cd: bool) -> None:
    """FWB and CD given as plain bools apply to every element."""
    s1 = np.array([r[0] for r in rows], dtype=np.uint8)
    s2 = np.array([r[1] for r in rows], dtype=np.uint8)
    ids = batch.combine_batch(s1, s2, fwb, cd)
    table = batch.outcome_table()
    for k, (a, b, _, _) in enumerate(rows):
        assert same(table[ids[k]], scalar(a, b, fwb, cd))


def test_outcome_arrays_describe_each_id() -> None:
    """The per-id arrays agree with the outcome each id stands for."""
    arr = batch.outcome_arrays()
    codes = {"NC": 0, "WT": 1, "WB": 2}
    for oid, res in enumerate(batch.outcome_table()):
        assert arr.n_outcomes[oid] == len(res.outcomes)
        assert arr.reserved[oid] == (res.reserved is not None)
        assert arr.single[oid] == (len(res.outcomes) == 1)
        if len(res.outcomes) != 1:
            assert arr.device[oid] == -1 and arr.inner[oid] == -1 and not arr.is_device[oid]
            continue
        a = res.outcomes[0]
        assert arr.is_device[oid] == a.is_device
        assert arr.device[oid] == (a.device.value if a.device is not None else -1)
        assert arr.inner[oid] == (codes[a.inner.cacheability.value] if a.inner else -1)
        assert arr.outer[oid] == (codes[a.outer.cacheability.value] if a.outer else -1)
        assert arr.shareability[oid] == a.shareability.encoding
        assert arr.xs[oid] == a.xs and arr.tagged[oid] == a.tagged


def test_defined_inputs_have_one_outcome() -> None:
    """Every id without a reserved note has exactly one outcome."""
    arr = batch.outcome_arrays()
    assert np.all(arr.single[~arr.reserved])


def test_table_rows_order_and_narrowing() -> None:
    """table_rows runs fwb, hcr_cd, s1, s2 ascending and narrows on request."""
    rows = batch.table_rows()
    assert len(rows) == batch.TABLE_SIZE
    keys = [(r.fwb, r.hcr_cd, r.s1, r.s2) for r in rows]
    assert keys == sorted(keys)
    one = batch.table_rows(fwb=True, cd=False, s1=0x44, s2=0x1)
    assert len(one) == 1 and one[0].outcomes[0].short == "Device-nGnRE"
    assert len(batch.table_rows(s1=0x44)) == 64
    assert len(batch.table_rows(fwb=False, s2=5)) == 512


@pytest.mark.parametrize("cpu", ["all", "cortex-a76", "neoverse-v2"])
def test_one_input_rows_equal_the_table(cpu: str) -> None:
    """Rows asked for by one S1 byte and one S2 MemAttr (resolved one by one, without the
    table) equal the table's rows for that input, for every input and CPU."""
    from memattr.arch.cpu import get_cpu

    pe = get_cpu(cpu)
    table = batch.table_rows(cpu=pe)
    by_input: dict[tuple[int, int], list[batch.TableRow]] = {}
    for row in table:
        by_input.setdefault((row.s1, row.s2), []).append(row)
    assert len(by_input) == 256 * 16
    for (s1, s2), rows in by_input.items():
        assert batch.table_rows(s1=s1, s2=s2, cpu=pe) == rows, (hex(s1), hex(s2))
    fwb = bool(pe.s2fwb)
    assert batch.table_rows(fwb=fwb, cd=True, s1=0x44, s2=5, cpu=pe) == [
        r for r in by_input[0x44, 5] if r.fwb == fwb and r.hcr_cd]


def test_lookup_table_is_read_only() -> None:
    """The derived table cannot be edited in place."""
    with pytest.raises(ValueError):
        batch._lut()[0] = 1


@pytest.mark.parametrize(
    ("s1", "s2", "fwb", "field"),
    [
        (np.array([256]), np.array([0]), False, "S1 MAIR attribute=0x100"),
        (np.array([-1]), np.array([0]), False, "S1 MAIR attribute"),
        (np.array([0]), np.array([16]), False, "S2 MemAttr=0x10"),
        (np.array([0]), np.array([0]), np.array([2]), "HCR_EL2.FWB=0x2"),
        (np.array([0.5]), np.array([0]), False, "S1 MAIR attribute: dtype"),
    ],
)
def test_out_of_range_raises(s1: np.ndarray, s2: np.ndarray, fwb: object, field: str) -> None:
    """Values outside their field raise EncodingError naming the field."""
    with pytest.raises(EncodingError, match=field.replace(".", r"\.")):
        batch.combine_batch(s1, s2, fwb, False)
    with pytest.raises(EncodingError):
        batch.table_rows(s1=0x100)
