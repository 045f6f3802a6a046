"""``memattr table``: every S1 MAIR byte x S2 MemAttr x FWB x HCR_EL2.CD, as text, CSV or JSON."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError
from ._common import parse_flag_pair, parse_int

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..arch.batch import TableRow
    from ..arch.cpu import Cpu
    from ..arch.memtype import MemoryAttributes

__all__ = ["register", "run", "FORMATS", "CSV_HEADER"]

FORMATS = ("text", "csv", "json")
CSV_HEADER = ("fwb", "hcr_cd", "s1", "s2", "s1_type", "n_outcomes", "effective", "shareability",
              "xs", "tagged", "mair", "reserved")


def register(subparsers: Any) -> None:
    """Add ``table`` and its options."""
    p = subparsers.add_parser(
        "table",
        help="the full S1 x S2 x FWB x CD matrix (16,384 rows unless narrowed)",
        description=(
            "Every stage-1 MAIR byte (0..255) x stage-2 MemAttr (0..15) x HCR_EL2.FWB {0,1} x "
            "HCR_EL2.CD {0,1}: 16,384 rows in order fwb, hcr_cd, s1, s2, unless narrowed (no "
            "FWB=1 rows for a CPU without FEAT_S2FWB).  Fixed inputs: SH1 = SH2 = ISH (0b11), a "
            "data read, FnXS = 0, the features of --cpu (default all), stage 1 and stage 2 "
            "enabled with caches on.  Each row comes from the scalar rules (combine.resolve) "
            "through memattr.arch.batch.  A defined input has exactly one outcome; a "
            "CONSTRAINED UNPREDICTABLE one says why and lists every permitted outcome.  A "
            "reserved S1 byte (S1ConstrainUnpredictableRESMAIR) acts as an UNKNOWN allocated "
            "byte (ConstrainUnpredictableBits(Unpredictable_RESMAIR, 8)): its row lists the "
            "outcomes of every allocated byte (text shows their types, CSV and JSON each "
            "attribute).  JSON: {\"rows\": [{\"fwb\", \"hcr_cd\", \"s1\", \"s2\", \"reserved\", "
            "\"outcomes\": [ATTR, ...]}, ...]}; ATTR.xs is null without FEAT_XS."
        ),
    )
    p.add_argument("--fwb", action="store_true", help="only HCR_EL2.FWB=1 rows")
    p.add_argument("--no-fwb", action="store_true", help="only HCR_EL2.FWB=0 rows")
    p.add_argument("--cd", action="store_true", help="only HCR_EL2.CD=1 rows")
    p.add_argument("--no-cd", action="store_true", help="only HCR_EL2.CD=0 rows")
    p.add_argument("--s1", metavar="X", help="only this stage-1 MAIR attribute byte")
    p.add_argument("--s2", metavar="Y", help="only this stage-2 MemAttr")
    p.add_argument("--cpu", default="all", metavar="NAME",
                   help="the PE whose features apply: a preset name (default all)")
    p.add_argument("--format", choices=FORMATS, default=None, help="output format (default text)")
    p.add_argument("--json", action="store_true", help="same as --format json")


def _effective(row: TableRow) -> str:
    if len(row.outcomes) == 1:
        return row.outcomes[0].short
    if row.outcomes:
        kinds = dict.fromkeys(f"{a.short} {a.shareability.value}" for a in row.outcomes)
        return "one of {" + ", ".join(kinds) + "}"
    return "no outcome"


def _s1_type(s1: int, cpu: Cpu) -> str:
    from ..arch.mair import decode_attr

    attr = decode_attr(s1, cpu)
    return attr.attrs.short if attr.attrs is not None else "reserved"


def _xs(a: MemoryAttributes) -> str:
    return "" if a.xs is None else str(int(a.xs))


def _write_csv(rows: list[TableRow], cpu: Cpu) -> None:
    import csv

    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for r in rows:
        one = r.outcomes[0] if len(r.outcomes) == 1 else None
        eff = str(one) if one else " | ".join(str(a) for a in r.outcomes)
        w.writerow([
            int(r.fwb), int(r.hcr_cd), f"0x{r.s1:02x}", f"0b{r.s2:04b}", _s1_type(r.s1, cpu),
            len(r.outcomes), eff,
            one.shareability.value if one else "",
            _xs(one) if one else "",
            int(one.tagged) if one else "",
            "" if one is None or one.mair is None else f"0x{one.mair:02x}",
            r.reserved or "",
        ])


def _write_text(rows: list[TableRow], cpu: Cpu) -> None:
    notes: dict[str, int] = {}
    body = []
    for r in rows:
        one = r.outcomes[0] if len(r.outcomes) == 1 else None
        mark = ""
        if r.reserved:
            mark = f"[{notes.setdefault(r.reserved, len(notes) + 1)}]"
        body.append((
            str(int(r.fwb)), str(int(r.hcr_cd)), f"0x{r.s1:02x}", _s1_type(r.s1, cpu),
            f"0b{r.s2:04b}", _effective(r),
            one.shareability.value if one else "-",
            (_xs(one) or "-") if one else "-",
            mark,
        ))
    head = ("FWB", "CD", "S1", "S1 type", "S2", "effective", "SH", "XS", "note")
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i])
              for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip() for b in body]
    if notes:
        out.append("")
        out += [f"[{n}] {text}" for text, n in notes.items()]
    sys.stdout.write("\n".join(out) + "\n")


def _rows_json_text(rows: list[TableRow]) -> str:
    """The JSON document of the rows, compact, as ``json.dumps`` would write it.

    Each distinct outcome list and note is encoded once (by ``json.dumps``) and reused: the
    reserved S1 bytes' rows share one long list, so encoding per row would repeat it 1,280
    times.  The result equals ``json.dumps({"rows": [r.to_json() ...]}, separators=(",", ":"))``.
    """
    import json

    def enc(obj: object) -> str:
        return json.dumps(obj, separators=(",", ":"))

    lists: dict[int, str] = {}
    notes: dict[str | None, str] = {}
    flag = ("false", "true")
    parts: list[str] = []
    for r in rows:
        outs = lists.get(id(r.outcomes))
        if outs is None:
            outs = lists[id(r.outcomes)] = enc([a.to_json() for a in r.outcomes])
        note = notes.get(r.reserved)
        if note is None:
            note = notes[r.reserved] = enc(r.reserved)
        parts += (f'{{"fwb":{flag[r.fwb]},"hcr_cd":{flag[r.hcr_cd]},"s1":{r.s1},"s2":{r.s2},'
                  f'"reserved":{note},"outcomes":', outs, "},")
    if parts:
        parts[-1] = "}"
    return '{"rows":[' + "".join(parts) + "]}"


def run(args: argparse.Namespace) -> int:
    """Print the table in the chosen format."""
    from ..arch.batch import table_rows
    from ..arch.cpu import get_cpu

    fmt = args.format or ("json" if args.json else "text")
    if args.json and fmt != "json":
        raise ConfigError(f"format={fmt}: conflicts with --json (a synonym of --format json)")
    fwb = parse_flag_pair(args.fwb, args.no_fwb, "HCR_EL2.FWB", "fwb")
    cd = parse_flag_pair(args.cd, args.no_cd, "HCR_EL2.CD", "cd")
    s1 = parse_int(args.s1, "S1 attribute", bits=8) if args.s1 is not None else None
    s2 = parse_int(args.s2, "S2 MemAttr", bits=4) if args.s2 is not None else None
    cpu = get_cpu(args.cpu)
    rows = table_rows(fwb=fwb, cd=cd, s1=s1, s2=s2, cpu=cpu)
    if fmt == "json":
        sys.stdout.write(_rows_json_text(rows) + "\n")
    elif fmt == "csv":
        _write_csv(rows, cpu)
    else:
        _write_text(rows, cpu)
    return 0
