"""No bit position restated outside ``memattr.arch``: a literal shift or mask fails this test.

Every descriptor and register bit position lives in one field table in :mod:`memattr.arch`;
other layers use the table (``layout.get(value, "SH")``), a rule of ``arch``, or a constant of
:mod:`memattr.arch.regdefs` (``ESR_ELx_EC_SHIFT``).  This test scans the AST of every module of
``src/memattr`` outside ``arch`` and reports each expression that restates a position.

The rule, on integer *constant expressions* (int literals combined with ``+ - * << >> & | ^ ~``):

1. ``value >> n`` or ``value << n`` (also ``>>=``, ``<<=``) where ``n`` is a constant not in
   :data:`SIZE_SHIFTS`: a field is being moved into or out of place (``raw >> 53``,
   ``memattr << 2``, ``asid << 48``).
2. ``value & m``, ``value | m``, ``value ^ m`` (also ``&=``, ``|=``, ``^=``) where ``m`` is a
   constant other than a size mask: a field or bit is being selected (``& 0x3F``,
   ``& (1 << 10)``, ``& ((1 << 40) - 1)``).
3. A constant ``a << n`` with ``a != 1`` and ``n`` not in :data:`SIZE_SHIFTS`: a multi-bit field
   value placed at a position (``0b11 << 53``, ``7 << 2``).

Not restatements, so not reported: shifts by a size or page shift (``pfn << 12``, ``size >> 20``),
masks of a size or page offset (``addr & 0xFFF``, ``x & ~((1 << 21) - 1)``), constant powers of
two (``1 << 64``, ``2 << 20``) and arithmetic on non-constant shift amounts.  Known blind spots:
a position bound to a name (``_FWB_BIT = 46``) and a single bit ``1 << n`` kept in a name (it is
a power of two, like a size) are not seen; their uses as masks of a value are.

Files holding positions of non-Arm formats (PCI) are listed in :data:`ALLOWED` with the number of
sites they hold, each with its reason: the test fails if that number changes, so a new literal
there fails too (and a removed one asks for the allowance to be lowered).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import memattr

PACKAGE = Path(memattr.__file__).parent

SIZE_SHIFTS = frozenset({10, 12, 14, 16, 20, 21, 25, 29, 30})
"""KiB, MiB, GiB, and the 4KB/16KB/64KB page and level-2 block shifts."""

_MASK64 = (1 << 64) - 1
SIZE_MASKS = frozenset(
    m for k in SIZE_SHIFTS for m in ((1 << k) - 1, ~((1 << k) - 1), _MASK64 & ~((1 << k) - 1))
) | {_MASK64}
"""Offsets within, and alignment to, those sizes (``& 0xFFF``, ``& ~0xFFF``), and the wrap of a
value to 64 bits."""

ALLOWED: dict[str, int] = {
    # Not an Arm register: the PCIe ECAM address layout (bus << 20 | device << 15 | fn << 12,
    # PCI Express Base Specification, Enhanced Configuration Access Mechanism).
    "platform/pcie.py": 1,
    # Not an Arm register: a PCI BAR's memory-type bits (PCI Local Bus Specification 3.0, 6.2.5.1).
    "interop/sysfs.py": 1,
}


def _const(node: ast.AST) -> int | None:
    """The value of a constant integer expression, else None."""
    if isinstance(node, ast.Constant):
        v = node.value
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Invert, ast.UAdd)):
        x = _const(node.operand)
        if x is None:
            return None
        return -x if isinstance(node.op, ast.USub) else ~x if isinstance(node.op, ast.Invert) else x
    if isinstance(node, ast.BinOp):
        a, b = _const(node.left), _const(node.right)
        if a is None or b is None:
            return None
        ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b, ast.BitAnd: a & b,
               ast.BitOr: a | b, ast.BitXor: a ^ b}
        if isinstance(node.op, ast.LShift):
            return a << b if 0 <= b <= 128 else None
        if isinstance(node.op, ast.RShift):
            return a >> b if 0 <= b <= 128 else None
        return ops.get(type(node.op))
    return None


_SHIFTS = (ast.LShift, ast.RShift)
_MASKS = (ast.BitAnd, ast.BitOr, ast.BitXor)


def _restates(op: ast.operator, left: ast.AST, right: ast.AST) -> bool:
    """Whether ``left op right`` restates a bit position (rules 1-3 of the module docstring)."""
    a, b = _const(left), _const(right)
    if isinstance(op, _SHIFTS):
        if b is None:
            return False
        if a is None:
            return b not in SIZE_SHIFTS  # rule 1
        return isinstance(op, ast.LShift) and a != 1 and b not in SIZE_SHIFTS  # rule 3
    if isinstance(op, _MASKS) and (a is None) != (b is None):
        mask = a if a is not None else b
        return mask not in SIZE_MASKS  # rule 2
    return False


def restatements(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every restated bit position in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and _restates(node.op, node.left, node.right):
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.AugAssign) and _restates(node.op, node.target, node.value):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def _scanned() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "arch")


@pytest.mark.parametrize("path", _scanned(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_literal_bit_positions_outside_arch(path: Path) -> None:
    """A module outside arch restates no descriptor/register bit position with a literal."""
    rel = str(path.relative_to(PACKAGE))
    sites = restatements(path.read_text())
    allowed = ALLOWED.get(rel, 0)
    listing = "\n".join(f"  {rel}:{line}: {expr}" for line, expr in sites)
    assert len(sites) <= allowed, (
        f"{rel}: {len(sites)} literal shift/mask site(s), {allowed} allowed; use the field tables "
        f"of memattr.arch or memattr.arch.regdefs constants:\n{listing}")
    assert len(sites) == allowed, (
        f"{rel}: {len(sites)} literal shift/mask site(s) left, allowance {allowed}: lower "
        f"ALLOWED[{rel!r}] to {len(sites)}")


def test_every_allowance_names_a_scanned_file() -> None:
    """The allowlist names only files that exist and are scanned."""
    scanned = {str(p.relative_to(PACKAGE)) for p in _scanned()}
    assert set(ALLOWED) <= scanned


@pytest.mark.parametrize(("source", "flagged"), [
    ("raw >> 53 & 3", 2), ("x & 0x3F", 1), ("x & (1 << 10)", 1), ("m = 0b11 << 53", 1),
    ("memattr << 2", 1), ("v |= 1 << 8", 1), ("(ipa >> 12 & ((1 << 40) - 1)) << 4", 2),
    ("pfn << 12", 0), ("size >> 20", 0), ("addr & 0xFFF", 0), ("a & ~((1 << 21) - 1)", 0),
    ("n = 1 << 64", 0), ("s = 2 << 20", 0), ("v >> shift & mask", 0), ("x * 8 + 1", 0),
    ("flags = 1 << 1", 0),
])
def test_the_rule(source: str, flagged: int) -> None:
    """The scan flags field shifts and masks and leaves sizes, page shifts and powers of two."""
    assert len(restatements(source)) == flagged
