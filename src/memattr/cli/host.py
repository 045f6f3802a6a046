"""``memattr host``: what a guest gets from each BAR of this host's devices, from lspci/sysfs
artefacts (``--lspci``) or from the running host itself (``--live``)."""

from __future__ import annotations

import argparse
import sys

from ._common import add_fail_on, emit_json, fail_status, parse_flag_pair

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run"]

_PAGE_SIZES = {"4K": 4096, "16K": 16384, "64K": 65536, "4096": 4096, "16384": 16384,
               "65536": 65536}


def register(subparsers: Any) -> None:
    """Add ``host`` and its options."""
    p = subparsers.add_parser(
        "host",
        help="what a guest gets from each BAR of a host's PCI devices (lspci/sysfs, or --live)",
        description=(
            "For each PCI device and BAR (SR-IOV VF BARs included), what a guest gets under each "
            "ioremap variant (ioremap, ioremap_np, ioremap_wc, ioremap_cache/memremap WB) and each "
            "policy, by building the host platform and replaying it through the Linux model; "
            "what needs care is flagged (driver not vfio-pci, sub-page BAR, not PCIe, beyond the "
            "guest's IPA space, I/O ports, disabled/unassigned BARs, read side effects).  "
            "--emit-scenario writes the scenario file `memattr run` replays.  --live reads this "
            "host (or a recorded tree with --root): kernel release and config, CPU features, "
            "sysfs PCI devices, /proc/iomem, KVM's capabilities and each VM's "
            "stage2_page_tables, compared with the model when --scenario describes the VM.  "
            "Nothing is written to the host."),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--lspci", metavar="FILE",
                     help="lspci -v/-vv/-vvv output (-nn, -D, -k, -s as you like; '-': stdin)")
    src.add_argument("--live", action="store_true", help="read the running host (read-only)")
    p.add_argument("--resource", action="append", default=[], metavar="[BDF=]FILE",
                   help="a sysfs resource file (repeatable; a pasted session with several is "
                        "fine): matched to its device by BDF or by address")
    p.add_argument("--root", metavar="DIR",
                   help="with --live: read a recorded tree instead of / (no ioctl is made)")
    p.add_argument("--kernel", metavar="V",
                   help="the host's kernel release (its policy is the first column)")
    p.add_argument("--policy", action="append", default=[], metavar="P",
                   help="a policy to compare (repeatable; default 6.8, 6.9, 6.17)")
    p.add_argument("--fwb", action="store_true", help="the host uses FEAT_S2FWB")
    p.add_argument("--no-fwb", action="store_true", help="the host does not use FEAT_S2FWB")
    p.add_argument("--cpu", metavar="NAME", help="a CPU preset (memattr.arch.cpu)")
    p.add_argument("--page-size", metavar="SIZE", choices=sorted(_PAGE_SIZES),
                   help="the host kernel's PAGE_SIZE (4K, 16K, 64K; default from the host or 4K)")
    p.add_argument("--ipa-bits", metavar="N", help="the guest's IPA size in bits (default 40)")
    p.add_argument("--scenario", action="append", default=[], metavar="[VM=]FILE",
                   help="with --live: a scenario describing a running VM (pid-fd=FILE for one "
                        "VM), to compare its stage2_page_tables with the model")
    p.add_argument("--kvm-dialect", choices=("v6.11", "x-fixed", "xnx"),
                   help="the X column of stage2_page_tables, when the release does not settle it")
    p.add_argument("--emit-scenario", metavar="FILE",
                   help="write the scenario file (TOML) for `memattr run` ('-': stdout only)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_fail_on(p)


def _split_named(text: str, pattern: str) -> tuple[str | None, str]:
    """('BDF', 'FILE') for 'BDF=FILE' when the name matches ``pattern``, else (None, text)."""
    import re

    name, sep, rest = text.partition("=")
    if sep and re.fullmatch(pattern, name):
        return name, rest
    return None, text


_BDF = r"(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"


def _config(args: argparse.Namespace, live: Any, hint: int | None) -> Any:
    from ..arch.cpu import get_cpu
    from ..errors import ConfigError
    from ..interop.host import DEFAULT_POLICIES, HostConfig
    from ..linux.policy import get_policy
    from ..linux.version import KernelVersion
    from ._common import parse_int

    kernel = None
    if args.kernel is not None:
        kernel = str(KernelVersion.parse(args.kernel))
        get_policy(kernel)  # refuses releases older than the model
    elif live is not None and live.kernel is not None:
        kernel = str(live.kernel)
    pols = ([kernel] if kernel else []) + list(args.policy)
    if not pols:
        pols = list(DEFAULT_POLICIES)
    for name in pols:
        get_policy(name)
    cpu_name = args.cpu or (live.cpu if live is not None and live.cpu else "all")
    cpu = get_cpu(cpu_name)
    fwb_flag = parse_flag_pair(args.fwb, args.no_fwb, "FWB", "fwb")
    if fwb_flag is not None:
        fwb: tuple[bool, ...] = (fwb_flag,)
    elif live is not None and live.fwb is not None:
        fwb = (live.fwb,)
    elif args.cpu:
        fwb = (cpu.s2fwb,)
    else:
        fwb = (False, True) if cpu.s2fwb else (False,)
    if any(fwb) and not cpu.s2fwb:
        raise ConfigError(f"--fwb: cpu {cpu_name!r} does not implement FEAT_S2FWB (expected "
                          "--no-fwb, or a CPU with it)")
    if args.page_size is not None:
        page = _PAGE_SIZES[args.page_size]
    elif live is not None and live.page_size is not None:
        page = live.page_size
    else:
        page = hint or 4096
    ipa = parse_int(args.ipa_bits, "--ipa-bits", minimum=32, maximum=52) \
        if args.ipa_bits is not None else 40
    dic = live.dic if live is not None else None
    mte = live.mte if live is not None and cpu.mte2 else None
    limit = live.ipa_limit if live is not None else None
    if limit is not None and ipa > limit:
        raise ConfigError(f"--ipa-bits={ipa}: beyond the host's IPA size limit of {limit} bits "
                          "(KVM_CREATE_VM would fail with -EINVAL; expected at most "
                          f"{limit})")
    return HostConfig(tuple(dict.fromkeys(pols)), fwb, cpu.name, kernel, page, ipa, dic, mte,
                      limit)


def _artefacts(args: argparse.Namespace) -> tuple[list[Any], tuple[str, ...], list[str], int | None]:
    from ..errors import ConfigError
    from ..inputs.files import display_name, read_bytes
    from ..interop.host import devices_from_lspci, page_size_hint
    from ..interop.lspci import parse_lspci
    from ..interop.sysfs import parse_resource

    dashes = [args.lspci] + [_split_named(r, _BDF)[1] for r in args.resource]
    if dashes.count("-") > 1:
        raise ConfigError("--resource -: standard input is already read by another argument "
                          "(expected '-' once)")
    data = read_bytes(args.lspci, what="lspci listing", arg="--lspci")
    name = display_name(args.lspci)
    devs = parse_lspci(data, name)
    hint = page_size_hint(data)
    resources = []
    sources = [name]
    for spec in args.resource:
        bdf, path = _split_named(spec, _BDF)
        raw = read_bytes(path, what="sysfs resource file", arg="--resource")
        rname = display_name(path)
        sources.append(rname)
        for rf in parse_resource(raw, rname, allow_other_lines=True):
            resources.append((bdf, rf))
    hosts, notes = devices_from_lspci(devs, name, resources)
    if hint is not None and args.page_size is None:
        notes.append(f"host PAGE_SIZE {hint[0]} from 'getconf PAGESIZE' in {name}:{hint[1]}")
    return hosts, tuple(sources), notes, hint[0] if hint else None


def _scenarios(args: argparse.Namespace) -> dict[str | None, Any]:
    from ..analysis.replay import build_platform  # noqa: F401 - loads the Linux model in order
    from ..analysis.scenario import load

    out: dict[str | None, Any] = {}
    for spec in args.scenario:
        vm, path = _split_named(spec, r"\d{1,10}-\d{1,10}")
        out[vm] = load(path, arg="--scenario")
    return out


def run(args: argparse.Namespace) -> int:
    """Read, answer and print."""
    from ..errors import ConfigError

    if args.root is not None and not args.live:
        raise ConfigError("--root: only with --live (expected --live --root DIR)")
    if args.live and args.resource:
        raise ConfigError("--resource: only with --lspci (--live reads sysfs itself)")
    if args.scenario and not args.live:
        raise ConfigError("--scenario: only with --live (compare a dump with `memattr diff`)")
    import memattr.analysis.replay  # noqa: F401 - the Linux model's modules load in order

    from ..interop.host import answer, render_host

    live = None
    vm_diffs: list[Any] = []
    if args.live:
        from ..interop.live import read_live

        live = read_live(args.root or "/", kvm_dialect=args.kvm_dialect)
        devices = live.devices
        sources: tuple[str, ...] = (f"{live.root} (live)",)
        notes: list[str] = []
        hint = None
    else:
        devices, sources, notes, hint = _artefacts(args)
    cfg = _config(args, live, hint)
    report = answer(devices, cfg, sources, tuple(notes))
    if live is not None:
        from ..interop.live import diff_vms

        vm_diffs = diff_vms(live, _scenarios(args), cfg)
    if args.emit_scenario is not None:
        _write(args.emit_scenario, report.scenario_text)
        if args.emit_scenario == "-":
            return 0
    found = set(report.found)
    if any(d.diff is not None and d.diff.found for d in vm_diffs):
        found.add("diff")
    if args.json:
        doc: dict[str, Any] = {"host": report.to_json()}
        if live is not None:
            doc["live"] = live.to_json()
            doc["vms"] = [d.to_json() for d in vm_diffs]
        emit_json(doc)
    else:
        text = ""
        if live is not None:
            from ..interop.live import render_live

            text += render_live(live, vm_diffs)
        text += render_host(report)
        sys.stdout.write(text)
    return fail_status(args, found)


def _write(path: str, text: str) -> None:
    from ..errors import ConfigError
    from ..inputs.escape import show_path

    if path == "-":
        sys.stdout.write(text)
        return
    if path == "":
        raise ConfigError("--emit-scenario='': empty file name (expected a path, or '-')")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"--emit-scenario={show_path(path)}: cannot write: {reason}") from None
