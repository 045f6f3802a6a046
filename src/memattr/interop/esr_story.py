"""Explain an abort (or any exception) report in its context: who took it, at which EL and
stage, what the syndrome and the page-table chain say, and what each kernel release does.

A report comes from :func:`memattr.interop.logscan.scan_log` (a kernel oops, a user fault, an
SError, KVM's "Unsupported FSC", QEMU's "kvm run failed" ...) or is a bare ESR value.  Who took
it is decided by the code that printed it and by the exception class (:class:`Attribution`,
recorded as a :class:`~memattr.arch.decision.Decision` whose rule is that function):

- ``kvm_handle_guest_abort`` / ``io_mem_abort``: KVM, on behalf of a guest, at EL2, stage 2;
- ``die_kernel_fault`` / ``do_mem_abort`` / ``die``: the kernel's own access, stage 1 (the host
  kernel, or the guest kernel when the log is a guest's console);
- ``arm64_show_signal``: a user-space access from EL0, stage 1;
- ``arm64_serror_panic`` / ``bad_mode``: an SError or unexpected exception the kernel took;
- ``kvm_cpu_exec`` (QEMU): KVM_RUN failed, with the guest's registers;
- a bare value: the exception class and ``--el`` (the EL that took it) say what they can; a
  lower-EL abort with no EL given is explained both ways and no kernel story is told.

The syndrome is :func:`memattr.arch.esr.decode_esr`'s (every class named, every ISS decoded);
the chain is :func:`memattr.interop.pgchain.decode_chain`'s; what a kernel release changes is
the Linux model's answer (:mod:`memattr.interop.outlook`).  Lines are rendered from those
records (:func:`story_lines`); nothing is re-derived from text.
"""

from __future__ import annotations

import enum

from .._value import dataclass
from ..arch.decision import Decision
from ..arch.esr import EC, FaultKind, Syndrome, decode_esr, hpfar_ipa
from ..errors import ParseError

TYPE_CHECKING = False  # importing typing costs start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from .logscan import AbortReport
    from .outlook import Outlook
    from .pgchain import Chain

__all__ = ["Who", "StoryRule", "Attribution", "Story", "parse_report", "explain",
           "explain_value", "explain_report", "explain_log", "ipa_from_hpfar", "story_lines",
           "story_json", "KVM_EXIT_HANDLERS", "BRK_IMMEDIATES"]


class Who(enum.Enum):
    """Whose access (or exception) it was, and so who took it."""

    HOST_KERNEL = "the host kernel"
    HOST_USER = "host user space"
    KVM_GUEST = "KVM, on behalf of a guest"
    GUEST = "the guest itself"
    UNKNOWN = "not stated"


class StoryRule(enum.Enum):
    """The function whose report (or rule) decides the context (value: its name)."""

    ESR = "ESR_ELx"  # a bare value: only the architecture speaks
    die_kernel_fault = "die_kernel_fault"  # arch/arm64/mm/fault.c
    do_mem_abort = "do_mem_abort"  # arch/arm64/mm/fault.c
    die = "die"  # arch/arm64/kernel/traps.c
    arm64_show_signal = "arm64_show_signal"  # arch/arm64/kernel/traps.c
    arm64_serror_panic = "arm64_serror_panic"  # arch/arm64/kernel/traps.c
    bad_mode = "bad_mode"  # arch/arm64/kernel/traps.c (v4.x)
    kvm_handle_guest_abort = "kvm_handle_guest_abort"  # arch/arm64/kvm/mmu.c
    io_mem_abort = "io_mem_abort"  # arch/arm64/kvm/mmio.c
    handle_exit = "handle_exit"  # arch/arm64/kvm/handle_exit.c
    kvm_cpu_exec = "kvm_cpu_exec"  # qemu accel/kvm/kvm-all.c
    kvm_arm_handle_dabt_nisv = "kvm_arm_handle_dabt_nisv"  # qemu target/arm/kvm.c
    brk_handler = "brk_handler"  # arch/arm64/kernel/debug-monitors.c


# arch/arm64/kvm/handle_exit.c arm_exit_handlers[] (v6.x): the handler KVM runs for each class
# a guest traps with; classes not listed go to kvm_handle_unknown_ec (an UNDEF is injected).
KVM_EXIT_HANDLERS: dict[EC, str] = {
    EC.WFx: "kvm_handle_wfx", EC.CP15_32: "kvm_handle_cp15_32", EC.CP15_64: "kvm_handle_cp15_64",
    EC.CP14_MR: "kvm_handle_cp14_32", EC.CP14_LS: "kvm_handle_cp14_load_store",
    EC.CP10_ID: "kvm_handle_cp10_id", EC.CP14_64: "kvm_handle_cp14_64", EC.HVC32: "handle_hvc",
    EC.SMC32: "handle_smc", EC.HVC64: "handle_hvc", EC.SMC64: "handle_smc",
    EC.SVC64: "handle_svc", EC.SYS64: "kvm_handle_sys_reg", EC.SVE: "handle_sve",
    EC.ERET: "kvm_handle_eret", EC.FP_ASIMD: "kvm_handle_fpasimd", EC.PAC: "kvm_handle_ptrauth",
    EC.IABT_LOW: "kvm_handle_guest_abort", EC.DABT_LOW: "kvm_handle_guest_abort",
    EC.SOFTSTP_LOW: "kvm_handle_guest_debug", EC.WATCHPT_LOW: "kvm_handle_guest_debug",
    EC.BREAKPT_LOW: "kvm_handle_guest_debug", EC.BKPT32: "kvm_handle_guest_debug",
    EC.BRK64: "kvm_handle_guest_debug",
}
"""KVM's exit handler by exception class (others: kvm_handle_unknown_ec, UNDEF injected)."""

# arch/arm64/include/asm/brk-imm.h: the BRK immediates the kernel plants, by range.
BRK_IMMEDIATES: tuple[tuple[int, int, str], ...] = (
    (0x004, 0x004, "KPROBES_BRK_IMM: a kprobe"),
    (0x005, 0x005, "UPROBES_BRK_IMM: a uprobe"),
    (0x006, 0x006, "KPROBES_BRK_SS_IMM: kprobe single-step"),
    (0x100, 0x100, "FAULT_BRK_IMM: a fault on purpose"),
    (0x400, 0x7FF, "KGDB_DYN_DBG_BRK_IMM/KGDB_COMPILED_DBG_BRK_IMM: kgdb"),
    (0x800, 0x800, "BUG_BRK_IMM: a kernel BUG() or WARN()"),
    (0x900, 0x9FF, "KASAN_BRK_IMM: a tag-based KASAN report"),
    (0x5500, 0x55FF, "UBSAN_BRK_IMM: a UBSAN trap"),
    (0x8000, 0x83FF, "CFI_BRK_IMM_BASE: a kCFI failure"),
)
"""(first, last, meaning) of the immediates of BRK instructions Linux plants."""

_REPORT_RULE = {
    "kernel fault": StoryRule.die_kernel_fault, "unhandled fault": StoryRule.do_mem_abort,
    "oops": StoryRule.die, "user fault": StoryRule.arm64_show_signal,
    "SError": StoryRule.arm64_serror_panic, "bad mode": StoryRule.bad_mode,
    "KVM unsupported FSC": StoryRule.kvm_handle_guest_abort,
    "KVM abort without syndrome": StoryRule.io_mem_abort,
    "QEMU kvm run failed": StoryRule.kvm_cpu_exec,
    "QEMU abort without syndrome": StoryRule.kvm_arm_handle_dabt_nisv,
}

# QEMU prints strerror(-ret) of KVM_RUN.
_STRERROR = {"Bad address": "EFAULT", "Invalid argument": "EINVAL",
             "Function not implemented": "ENOSYS", "Exec format error": "ENOEXEC",
             "Operation not permitted": "EPERM"}


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who took it, at which EL, at which stage.

    :param who: whose access it was.  :param taken_el: the EL that took the exception (None:
        not stated; for a kernel, EL1 or EL2 with VHE).  :param from_el: the EL of the access.
    :param stage: 1 or 2 (None: not a translation-regime fault, or unknown).
    :param handler: the function that handled it (KVM's exit handler, the kernel's).
    """

    who: Who
    taken_el: int | None
    from_el: int | None
    stage: int | None
    handler: str | None = None


@dataclass(frozen=True)
class Story:
    """Everything said about one report.

    :param index: 1-based position in the log (1 for a value).  :param report: the report, or
        None for a bare value.  :param syndrome: the decoded ESR (None: the report has none).
    :param decision: the attribution record (rule: the printing function; result: Attribution).
    :param access: the access in words ('write', 'instruction fetch' ...).
    :param release: the kernel release the story uses, and where it came from.
    :param checks: what the report's own decode says against the ESR.
    :param chain: the decoded page-table chain.  :param outlook: the model's answer per release.
    :param outlook_kind: which question was asked (alignment, exec, nisv, user).
    :param links: what other reports of the same log add.  :param ipa: the faulting IPA.
    :param notes: further sentences, rendered from templates keyed by the fault kind.
    """

    index: int
    report: AbortReport | None
    syndrome: Syndrome | None
    decision: Decision
    access: str | None
    release: str | None
    release_from: str | None
    checks: tuple[str, ...] = ()
    chain: Chain | None = None
    outlook: Outlook | None = None
    outlook_kind: str | None = None
    links: tuple[str, ...] = ()
    ipa: int | None = None
    far: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def attribution(self) -> Attribution:
        """The decision's result."""
        result: Attribution = self.decision.result
        return result

    @property
    def lines(self) -> list[str]:
        """The story as lines of text (:func:`story_lines`)."""
        return story_lines(self)


# --- values and lines -----------------------------------------------------------------------

def parse_report(text: str) -> int:
    """The ESR value in ``text``: hex with or without 0x, or the value after ``ESR_EL2=`` /
    ``ESR:`` / ``ESR =`` in a log line."""
    import re

    text = text.strip()
    m = re.search(r"\bESR(?:_EL[123])?\s*[=:]\s*((?:0[xX])?[0-9a-fA-F]+)\b", text)
    token = m.group(1) if m else text
    try:
        return int(token[2:] if token[:2] in ("0x", "0X") else token, 16)
    except ValueError:
        raise ParseError(f"ESR={text!r}: not a number or a line containing ESR_EL2=0x...") from None


def ipa_from_hpfar(hpfar: int, far: int) -> int:
    """The faulting IPA: HPFAR_EL2.FIPA (IPA[51:12]) with FAR_EL2's page offset (arch.esr)."""
    return hpfar_ipa(hpfar, far)


def _access(s: Syndrome) -> str | None:
    """The access in words, from the syndrome's own fields (WnR, CM, S1PTW, SAS)."""
    if s.fsc is None:
        return None
    if s.ec in (EC.IABT_LOW, EC.IABT_CUR):
        return "instruction fetch"
    if s.cm:
        return "cache maintenance or address translation instruction"
    size = f"{1 << s.sas}-byte " if s.sas is not None else ""
    what = f"{size}{'write' if s.wnr else 'read'}"
    if s.s1ptw:
        return f"stage-1 table walk (for a {what})"
    return what


# --- attribution ----------------------------------------------------------------------------

_NOT_TRANSLATION = (FaultKind.SYNC_EXTERNAL, FaultKind.SYNC_PARITY, FaultKind.TAG_CHECK,
                    FaultKind.TLB_CONFLICT, FaultKind.GRANULE_PROTECTION, FaultKind.LOCKDOWN)
_LOWER = (EC.DABT_LOW, EC.IABT_LOW)
_CURRENT = (EC.DABT_CUR, EC.IABT_CUR)


def _attribute(rule: StoryRule, s: Syndrome | None, *, el: int | None, guest: bool,
               report: AbortReport | None, hpfar: bool) -> Decision:
    """The attribution record: rule (the printer), branch, inputs, result (Attribution)."""
    ec = s.ec if s is not None else None
    inputs: list[tuple[str, object]] = [("ec", ec), ("el", el), ("guest_log", guest)]
    if s is not None and s.fsc is not None and s.fsc.kind in _NOT_TRANSLATION:
        inputs.append(("fsc", s.fsc.kind.value))  # after translation: no stage to blame
    own = Who.GUEST if guest else Who.HOST_KERNEL
    user = Who.GUEST if guest else Who.HOST_USER

    def d(branch: str, a: Attribution) -> Decision:
        if s is not None and s.fsc is not None and s.fsc.kind in _NOT_TRANSLATION:
            a = Attribution(a.who, a.taken_el, a.from_el, None, a.handler)
        return Decision(rule, branch, tuple(inputs), a)

    if rule in (StoryRule.kvm_handle_guest_abort, StoryRule.io_mem_abort,
                StoryRule.kvm_arm_handle_dabt_nisv):
        return d("kvm_stage2", Attribution(Who.KVM_GUEST, 2, None, 2, rule.value))
    if rule is StoryRule.kvm_cpu_exec:
        from_el = report.el if report is not None else None
        return d("vmm_run_failed", Attribution(Who.KVM_GUEST, 2, from_el, None, "KVM_RUN"))
    if rule is StoryRule.arm64_show_signal:
        return d("user_space", Attribution(user, el, 0, 1, "arm64_force_sig_fault"))
    if rule in (StoryRule.arm64_serror_panic, StoryRule.bad_mode):
        return d("serror" if ec == EC.SERROR else "bad_mode",
                 Attribution(own, el, None, None, rule.value))
    if ec == EC.SERROR:
        return d("serror", Attribution(own if el != 2 or guest else Who.UNKNOWN, el, None, None))
    if ec == EC.BRK64 and rule is not StoryRule.ESR:
        return d("brk", Attribution(own, el, el, None, StoryRule.brk_handler.value))
    if rule is not StoryRule.ESR:  # the kernel's own reports
        if ec in _LOWER:
            return d("user_space", Attribution(user, el, 0, 1, rule.value))
        return d("kernel_own", Attribution(own, el, el, 1, rule.value))
    # a bare value
    if ec in _CURRENT:
        return d("same_el", Attribution(own, el, el, 1))
    if ec in _LOWER:
        if el == 2 or hpfar:
            inputs.append(("hpfar", hpfar))
            return d("kvm_stage2", Attribution(Who.KVM_GUEST, 2, None, 2,
                                               "kvm_handle_guest_abort"))
        if el == 1:
            return d("user_space", Attribution(user, 1, 0, 1))
        return d("lower_unknown", Attribution(Who.UNKNOWN, None, None, None))
    if ec is not None and el == 2:
        try:
            handler = KVM_EXIT_HANDLERS.get(EC(ec))
        except ValueError:  # an unallocated class
            handler = None
        return d("kvm_trap", Attribution(Who.KVM_GUEST, 2, None, None,
                                         handler or "kvm_handle_unknown_ec"))
    return d("exception", Attribution(Who.GUEST if guest else Who.UNKNOWN, el, None, None))


# Templates of the attribution sentence by branch; fields: who, el, from, stage, handler,
# access, printer, comm.
_WHO = {
    "kvm_stage2": "Who: {who}. The guest's {access} {faulted} and was taken to EL2, where "
                  "{handler} handled it{translated}.",
    "vmm_run_failed": "Who: {who}. KVM_RUN failed and the VMM printed the vCPU's registers: "
                      "the guest was at EL{from}{from_what} when it stopped.",
    "user_space": "Who: {who}{comm}: its {access} from EL0 {faulted}{tables}; {kernel} took it "
                  "at {taken} and {handler} sent the signal.  No KVM, no stage 2.",
    "kernel_own": "Who: {who}: its own {access} {faulted}{tables}, taken without a change of "
                  "EL ({taken}); {handler} printed it.  No KVM, no stage 2.",
    "same_el": "Who: {who} (taken without a change of EL: the code that faulted runs at the EL "
               "that took it, {taken}): its own {access} {faulted}.  No KVM, no stage 2 (a "
               "guest's stage-2 faults reach EL2 as a lower-EL abort).",
    "lower_unknown": "Who: not in the value.  Taken from a lower EL, it is either (a) ESR_EL2: "
                     "a guest's {access} that faulted at stage 2, handled by KVM "
                     "(kvm_handle_guest_abort), or (b) ESR_EL1 (ESR_EL2 on a VHE host): a "
                     "user-space {access} from EL0 that faulted at stage 1.  Give --el 2 or "
                     "--el 1 (or the log line) for the rest of the story.",
    "serror": "Who: {who} took an SError at {taken}: an error the memory system reported "
              "asynchronously (not tied to one instruction unless the ISS says so){printed}.",
    "bad_mode": "Who: {who}: an exception the kernel has no handler for at {taken}; {handler} "
                "printed it.",
    "brk": "Who: {who}: a BRK instruction at {taken}; the break hook for its immediate "
           "({handler}) reported it and die() printed the oops.",
    "kvm_trap": "Who: {who}. The guest trapped to EL2 and KVM runs {handler} "
                "(arch/arm64/kvm/handle_exit.c).",
    "exception": "Who: not in the value{taken_at} (give --el 2 if KVM logged it: KVM would "
                 "run {kvm_handler}).",
}


def _kvm_handler(s: Syndrome | None) -> str:
    """KVM's exit handler for the syndrome's class (arm_exit_handlers)."""
    if s is None:
        return "its exit handler"
    try:
        return KVM_EXIT_HANDLERS.get(EC(s.ec), "kvm_handle_unknown_ec")
    except ValueError:
        return "kvm_handle_unknown_ec"


def _el_text(el: int | None, who: Who) -> str:
    if el is not None:
        return f"EL{el}"
    if who in (Who.HOST_KERNEL, Who.HOST_USER):
        return "EL1 (EL2 on a VHE host)"
    return "its EL"


def _who_line(story: Story) -> str:
    a = story.attribution
    r = story.report
    fields = {
        "who": a.who.value,
        "access": story.access or "access",
        "handler": a.handler or "the kernel",
        "taken": _el_text(a.taken_el, a.who),
        "taken_at": f", taken at EL{a.taken_el}" if a.taken_el is not None else "",
        "from": "?" if a.from_el is None else str(a.from_el),
        "from_what": {0: " (user space)", 1: " (its kernel)"}.get(a.from_el, "")
        if a.from_el is not None else "",
        "kernel": "the guest kernel" if a.who is Who.GUEST else "the host kernel",
        "comm": "",
        "printed": f"; {a.handler} printed it" if a.handler else "",
        "faulted": f"faulted at stage {a.stage}" if a.stage is not None else
        "was aborted by the memory system after translation",
        "tables": {1: " (the kernel's page tables)" if a.who in (Who.HOST_KERNEL, Who.GUEST)
                   and story.decision.branch == "kernel_own" else " (the process's own page "
                   "tables)"}.get(a.stage or 0, ""),
        "translated": "; the guest's own page tables (stage 1) translated it"
        if a.stage == 2 else "",
        "kvm_handler": _kvm_handler(story.syndrome),
    }
    if r is not None and r.comm:
        from ..inputs.escape import escape

        fields["comm"] = f" ({escape(r.comm)}[{r.pid}])"
    return _WHO[story.decision.branch].format(**fields)


# --- handling, by fault kind ----------------------------------------------------------------

# KVM's handling of a stage-2 abort, by fault kind, where the model is not asked
# (arch/arm64/kvm/mmu.c kvm_handle_guest_abort, user_mem_abort, handle_access_fault;
# arch/arm64/kvm/mmio.c io_mem_abort).
_KVM_KIND = {
    FaultKind.TRANSLATION: "Stage-2 translation fault: inside a memslot KVM maps the page on "
                           "demand (user_mem_abort); outside every memslot it is emulated MMIO "
                           "(io_mem_abort), which needs ISV=1 to decode the access.",
    FaultKind.ACCESS_FLAG: "Access flag fault: KVM sets AF (handle_access_fault) and the guest "
                           "retries.",
    FaultKind.ADDRESS_SIZE: "Address size fault: the IPA is beyond the VM's IPA space; KVM "
                            "injects an abort into the guest.",
    FaultKind.UNSUPPORTED_ATOMIC: "An exclusive or atomic access the memory system does not "
                                  "support on this memory type (IMPLEMENTATION DEFINED on "
                                  "Device and Normal-NC); newer KVM injects it into the guest "
                                  "(kvm_inject_dabt_excl_atomic), older ones print "
                                  "'Unsupported FSC'.",
    FaultKind.SYNC_EXTERNAL: "A synchronous external abort: the device or interconnect "
                             "answered the access with an error (kvm_handle_guest_sea: APEI may "
                             "claim it, else KVM injects it); whether that is contained is a "
                             "platform property (PCIe AER/DPC, SBSA RAS), not the memory type.",
    FaultKind.TAG_CHECK: "A tag check fault at EL2 is not expected for a guest access.",
}
_KVM_KIND[FaultKind.SYNC_EXTERNAL_ON_WALK] = _KVM_KIND[FaultKind.SYNC_EXTERNAL]

# The kernel's own (or a process's) stage-1 fault, by kind (arch/arm64/mm/fault.c fault_info[]).
_OWN_KIND = {
    FaultKind.TRANSLATION: "No valid entry maps the address at that level: a wild or NULL "
                           "pointer, or memory already unmapped.",
    FaultKind.PERMISSION: "The mapping does not allow this {access} (read-only data, a "
                          "non-executable page, or PAN).",
    FaultKind.ACCESS_FLAG: "The entry's access flag is clear (the kernel sets it and retries).",
    FaultKind.ALIGNMENT: "An unaligned access to memory whose stage-1 type is Device "
                         "(AArch64.S1HasAlignmentFault; Linux runs with SCTLR_ELx.A=0, so "
                         "Normal memory never takes it): memcpy/memset or an unaligned load "
                         "or store on an ioremap()'d or Device-mapped region.  Use the "
                         "*_toio/*_fromio helpers or aligned accesses.",
    FaultKind.SYNC_EXTERNAL: "The device or interconnect answered the access with an error "
                             "(an external abort); translation and memory type were fine.",
    FaultKind.ADDRESS_SIZE: "The output address is larger than the configured physical "
                            "address size: a corrupt page-table entry.",
    FaultKind.TAG_CHECK: "An MTE tag check failed: the pointer's tag does not match the "
                         "memory's.",
    FaultKind.UNSUPPORTED_ATOMIC: "An exclusive or atomic access to memory that does not "
                                  "support it (a non-cacheable or Device mapping).",
}
_OWN_KIND[FaultKind.SYNC_EXTERNAL_ON_WALK] = _OWN_KIND[FaultKind.SYNC_EXTERNAL]


def _kind_notes(s: Syndrome | None, a: Attribution, access: str | None) -> list[str]:
    """What the fault kind means for whoever took it (templates keyed by kind)."""
    out: list[str] = []
    if s is None or s.fsc is None:
        return out
    kind = s.fsc.kind
    if a.who is Who.KVM_GUEST and a.taken_el == 2:
        if s.s1ptw:
            out.append("S1PTW=1: the fault is on the guest's own stage-1 table walk: the IPA of "
                       "a guest page-table page is not (validly) mapped at stage 2.")
        if kind is FaultKind.PERMISSION and s.ec == EC.DABT_LOW:
            out.append("A write to a page KVM mapped read-only (dirty logging, a read-only "
                       "memslot, or not yet made writable): user_mem_abort makes it writable "
                       "or exits to the VMM." if s.wnr else
                       "A read that stage 2 does not allow: KVM maps every page it maps "
                       "readable, so user_mem_abort reports 'Unexpected L2 read permission "
                       "error' (a CM or S1PTW read aside).")
        elif kind in _KVM_KIND:
            out.append(_KVM_KIND[kind])
        if kind is FaultKind.TRANSLATION and s.isv is False and s.ec == EC.DABT_LOW:
            out.append("ISV=0 here: KVM cannot decode the instruction, so such an access to "
                       "emulated MMIO fails (or exits with KVM_EXIT_ARM_NISV if the VMM enabled "
                       "KVM_CAP_ARM_NISV_TO_USER).")
    elif a.who is not Who.KVM_GUEST and a.who is not Who.UNKNOWN and kind in _OWN_KIND:
        out.append(_OWN_KIND[kind].format(access=access or "access"))
    return out


def _trap_notes(s: Syndrome | None, a: Attribution) -> list[str]:
    """BRK immediates and the like, from the ISS."""
    if s is None:
        return []
    out = []
    if s.ec == EC.BRK64:
        imm = s.field("Comment") or 0
        meaning = next((m for lo, hi, m in BRK_IMMEDIATES if lo <= imm <= hi), None)
        out.append(f"BRK #0x{imm:x}: " + (f"{meaning} (arch/arm64/include/asm/brk-imm.h)"
                                          if meaning else "not an immediate Linux plants "
                                          "(a debugger's, or code's own)"))
    return out


# --- consistency of the report with the ESR ---------------------------------------------------

_STATED = {"FSC": ("DFSC", "IFSC"), "xFSC": ("DFSC", "IFSC"), "WnR": ("WnR",), "ISV": ("ISV",),
           "S1PTW": ("S1PTW",), "CM": ("CM",), "EA": ("EA",), "FnV": ("FnV",),
           "SET": ("SET",), "TnD": ("TnD",), "TagAccess": ("TagAccess",), "GCS": ("GCS",),
           "Overlay": ("Overlay",), "DirtyBit": ("DirtyBit",), "Xs": ("Xs",),
           "ISS": (), "ISS2": ()}


def _checks(r: AbortReport | None, s: Syndrome | None) -> tuple[str, ...]:
    """The report's own decode (EC, FSC, WnR ...) against the ESR it printed."""
    if r is None or s is None:
        return ()
    agree: list[str] = []
    differ: list[str] = []
    if r.ec_stated is not None:
        (agree if r.ec_stated == s.ec else differ).append(
            f"EC=0x{r.ec_stated:02x}" + ("" if r.ec_stated == s.ec else f" (ESR: 0x{s.ec:02x})"))
    for key, value in r.fields:
        names = _STATED.get(key)
        if names is None:
            continue
        mine: int | None
        if key == "ISS":
            mine = s.iss
        elif key == "ISS2":
            mine = s.iss2
        else:
            found = [s.field(n) for n in names]
            mine = next((x for x in found if x is not None), None)
        if mine is None:
            continue
        text = f"{key}=0x{value:x}" if value > 9 else f"{key}={value}"
        (agree if mine == value else differ).append(
            text if mine == value else f"{text} (ESR: 0x{mine:x})")
    out = []
    if agree:
        out.append(f"The report's own decode agrees: {', '.join(agree)}.")
    if differ:
        out.append(f"The report's own decode differs from its ESR: {', '.join(differ)}.")
    return tuple(out)


# --- releases -------------------------------------------------------------------------------

def _release(r: AbortReport | None, kernel: str | None) -> tuple[str | None, str | None, str | None]:
    """(release the model describes, where it came from, why a stated one cannot be used)."""
    if kernel is None and (r is None or r.kernel_version is None):
        return None, None, None
    import re

    from ..errors import ConfigError
    from ..linux.version import modelled_release

    if kernel is not None:
        return str(modelled_release(kernel, "--kernel")), "--kernel", None
    stated = r.kernel_version if r is not None else None
    if stated is None:
        return None, None, None
    m = re.match(r"(\d+)\.(\d+)", stated)
    if m is None:
        return None, None, None
    try:
        return str(modelled_release(f"{m.group(1)}.{m.group(2)}")), "the log", None
    except ConfigError as exc:
        return None, None, str(exc).partition(": ")[2]


# --- stories --------------------------------------------------------------------------------

def _outlook(s: Syndrome | None, a: Attribution, release: str | None, guest_log: bool,
             ) -> tuple[Outlook | None, str | None]:
    """Ask the Linux model what each release does, for the reports it can answer."""
    if s is None or s.fsc is None or a.who not in (Who.KVM_GUEST, Who.HOST_USER):
        return None, None
    from .outlook import (
        alignment_outlook,
        checked_releases,
        exec_outlook,
        nisv_outlook,
        user_mapping_outlook,
    )

    host_release = None if guest_log else release
    kind = s.fsc.kind
    if a.who is Who.KVM_GUEST and a.stage == 2:
        # The releases come from the policy registry (a large import): asked only by the
        # outlooks that replay them.
        if kind is FaultKind.ALIGNMENT:
            size = 1 << s.sas if s.sas is not None else 8
            return (alignment_outlook(bool(s.wnr), size, checked_releases(host_release)),
                    "alignment")
        if kind is FaultKind.PERMISSION and s.ec == EC.IABT_LOW:
            return exec_outlook(checked_releases(host_release)), "exec"
        if kind is FaultKind.TRANSLATION and s.ec == EC.DABT_LOW and s.isv is False:
            return (nisv_outlook(bool(s.wnr), host_release or checked_releases()[-1]),
                    "nisv")
    if a.who is Who.HOST_USER and a.stage == 1 and kind is FaultKind.ALIGNMENT:
        return user_mapping_outlook(host_release or checked_releases()[-1]), "user"
    return None, None


def explain_value(esr: int, *, el: int | None = None, far: int | None = None,
                  hpfar: int | None = None, kernel: str | None = None, guest: bool = False,
                  outlook: bool = True) -> Story:
    """Explain a bare ESR value.

    :param el: the Exception level that took it (ESR_EL<el>), None when unknown.
    :param far: FAR_ELx (the page offset of the IPA).  :param hpfar: HPFAR_EL2 (implies EL2).
    :param kernel: the host kernel release.  :param guest: the value is a guest's ESR_EL1.
    :param outlook: ask the Linux model what each release does (KVM and user stories).
    """
    s = decode_esr(esr)
    d = _attribute(StoryRule.ESR, s, el=el, guest=guest, report=None, hpfar=hpfar is not None)
    return _story(1, None, s, d, kernel=kernel, guest=guest, far=far, hpfar=hpfar,
                  outlook=outlook)


def explain(esr: int, *, far: int | None = None, hpfar: int | None = None, el: int | None = 2,
            kernel: str | None = None) -> Story:
    """Explain an ESR_EL2 value a KVM host logged (``el=None``: the EL is not known)."""
    return explain_value(esr, el=el, far=far, hpfar=hpfar, kernel=kernel)


def _story(index: int, r: AbortReport | None, s: Syndrome | None, d: Decision, *,
           kernel: str | None, guest: bool, far: int | None, hpfar: int | None,
           outlook: bool, links: tuple[str, ...] = (), partial: bool = False) -> Story:
    a: Attribution = d.result
    release, release_from, why_not = _release(r, kernel)
    access = _access(s) if s is not None and not partial else None
    if far is None and r is not None:
        far = r.far
    ipa = hpfar_ipa(hpfar, far or 0) if hpfar is not None else None
    chain = None
    if r is not None and r.chain_va is not None:
        from ..linux.version import KernelVersion
        from .pgchain import decode_chain

        chain = decode_chain(r, KernelVersion.parse(release) if release else None,
                             fault_level=s.fsc.level if s and s.fsc else None,
                             fault_kind=s.fsc.kind.value if s and s.fsc else None,
                             write=s.wnr if s is not None else None,
                             el=0 if a.from_el == 0 else 1)
    ol, ol_kind = _outlook(s, a, release, guest) if outlook and not partial else (None, None)
    if outlook and r is not None and r.kind.value in ("KVM abort without syndrome",
                                                      "QEMU abort without syndrome"):
        from .outlook import checked_releases, nisv_outlook

        ol, ol_kind = nisv_outlook(True, release or checked_releases()[-1]), "nisv"
    notes = _kind_notes(s, a, access) + _trap_notes(s, a)
    if partial:
        notes.insert(0, "The line gives the class and the fault status only (a 32-bit KVM "
                        "host's message; 32-bit host support left Linux in v5.7): the direction "
                        "of the access and the rest of the syndrome are not known.")
    if why_not:
        notes.append(f"The log's kernel: {why_not}; the story uses no release.")
    return Story(index, r, s, d, access, release, release_from, _checks(r, s), chain, ol,
                 ol_kind, links, ipa, far, tuple(notes))


def explain_report(r: AbortReport, *, index: int = 1, kernel: str | None = None,
                   el: int | None = None, guest: bool = False, far: int | None = None,
                   hpfar: int | None = None, outlook: bool = True,
                   links: tuple[str, ...] = ()) -> Story:
    """Explain one report found in a log.

    :param el: the EL that took it, when the report does not say.  Other parameters as
        :func:`explain_value`.
    """
    rule = _REPORT_RULE[r.kind.value]
    s = decode_esr(r.esr) if r.esr is not None else None
    if s is None and r.kind.value == "KVM unsupported FSC" and r.ec_stated is not None \
            and 0 <= r.ec_stated <= max(EC) and 0 <= (r.field("xFSC") or 0) <= 0x3F:
        from ..arch.esr import encode_esr

        fsc = r.field("xFSC") or 0
        s = decode_esr(encode_esr(r.ec_stated, fsc))  # 32-bit KVM printed EC and FSC only
    d = _attribute(rule, s, el=el, guest=guest, report=r, hpfar=hpfar is not None)
    return _story(index, r, s, d, kernel=kernel, guest=guest, far=far, hpfar=hpfar,
                  outlook=outlook, links=links, partial=r.esr is None and s is not None)


_GUEST_HW = ("QEMU", "KVM", "linux,dummy-virt", "Virtual Machine", "virt-")


def _check_esr_width(r: AbortReport, source: str) -> None:
    """A printed ESR of more than 64 bits, or one that runs into letters (0x92zz), is an error,
    not the digits the scanner stopped at."""
    import re

    from ..errors import EncodingError
    from ..inputs.escape import show

    for line in r.text:
        for m in re.finditer(r"\bESR(?:_EL2)?\s*[=:]\s*((?:0[xX])?([0-9a-fA-F]+)(\w*))", line):
            if m.group(3):
                raise ParseError(f"{source}:{r.first_line}: ESR={show(m.group(1))}: not a hex "
                                 "number (expected ESR_EL2=0x... as KVM prints it)")
            if len(m.group(2).lstrip("0")) > 16:
                raise EncodingError(f"{source}:{r.first_line}: ESR={show(m.group(1))}: out of "
                                    "range (0x0..0xffffffffffffffff, 64 bits)")


def _guest_log(text: str) -> bool:
    """The log is a guest's console: its 'Hardware name:' / 'DMI:' names a virtual machine."""
    import re

    for m in re.finditer(r"(?:Hardware name|DMI): ([^\n]*)", text):
        if any(w in m.group(1) for w in _GUEST_HW):
            return True
    return False


def _links(reports: list[AbortReport]) -> list[tuple[str, ...]]:
    """What each report learns from the others (QEMU's KVM_RUN error and KVM's own line)."""
    out: list[list[str]] = [[] for _ in reports]
    kvm = [i for i, r in enumerate(reports) if r.kind.value == "KVM unsupported FSC"]
    qemu = [i for i, r in enumerate(reports) if r.kind.value == "QEMU kvm run failed"]
    for q in qemu:
        errno = _STRERROR.get((reports[q].message or "").strip())
        if errno == "EFAULT" and kvm:
            out[q].append("KVM_RUN returned -EFAULT; KVM's own line explains it: report "
                          + ", ".join(f"{k + 1} (line {reports[k].first_line})" for k in kvm)
                          + ".")
        elif errno is not None:
            out[q].append(f"KVM_RUN returned -{errno}.")
    for k in kvm:
        failed = [q for q in qemu if _STRERROR.get((reports[q].message or "").strip()) == "EFAULT"]
        if failed:
            els = sorted({e for q in failed if (e := reports[q].el) is not None})
            where = f"; the guest was at {', '.join(f'EL{e}' for e in els)}" if els else ""
            out[k].append("QEMU's 'kvm run failed Bad address' (report "
                          + ", ".join(str(q + 1) for q in failed)
                          + f") is this -EFAULT as the VMM saw it{where}.")
    return [tuple(x) for x in out]


def explain_log(data: str | bytes, source: str = "<input>", *, kernel: str | None = None,
                el: int | None = None, guest: bool | None = None, outlook: bool = True,
                ) -> list[Story]:
    """Explain every report in a log (dmesg, console, QEMU's stderr, a mail, one line).

    A single quoted-printable line (``ESR_EL2=3D0x...``) is decoded as mail would be.
    :param guest: the log is a guest's console (None: decided from its 'Hardware name:').
    """
    import re

    from .logscan import scan_log

    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if re.search(r"=3D(?:0x)?[0-9a-f]", text, re.I) and not re.search(
            r"content-transfer-encoding:\s*quoted-printable", text[:20000], re.I):
        # quoted-printable text pasted without its mail header (ESR_EL2=3D0x...): decode it as
        # the mail reader would (RFC 2045 6.7); line numbers stay those of the text given
        from dataclasses import replace

        header = "Content-Transfer-Encoding: quoted-printable\n"
        reports = [replace(r, first_line=r.first_line - 1, last_line=r.last_line - 1,
                           lines=tuple(n - 1 for n in r.lines))
                   for r in scan_log(header + text, source)]
    else:
        reports = scan_log(data, source)
    for r in reports:
        _check_esr_width(r, source)
    if guest is None:
        guest = _guest_log(text)
    links = _links(reports)
    return [explain_report(r, index=i + 1, kernel=kernel, el=el, guest=guest, outlook=outlook,
                           links=links[i]) for i, r in enumerate(reports)]


# --- rendering ------------------------------------------------------------------------------

def _head(story: Story) -> str:
    from ..inputs.escape import escape

    r = story.report
    if r is None:
        value = story.syndrome.value if story.syndrome is not None else 0
        return f"ESR value 0x{value:x} (no report around it)"
    where = f"line {r.first_line}" if r.first_line == r.last_line else \
        f"lines {r.first_line}-{r.last_line}"
    who = f", {escape(r.comm)}[{r.pid}]" if r.comm else f", kvm [{r.pid}]" if r.pid else ""
    msg = f": {escape(r.message)}" if r.message else ""
    return f"Report {story.index} ({where}): {r.kind.value}, printed by " \
           f"{story.decision.rule.value}{who}{msg}"


def _syndrome_lines(story: Story) -> list[str]:
    s = story.syndrome
    r = story.report
    if s is None:
        return []
    reg = {2: "ESR_EL2", 1: "ESR_EL1"}.get(story.attribution.taken_el or 0, "ESR")
    lines = list(s.lines)
    lines[0] = lines[0].replace("ESR=", f"{reg}=", 1)
    if r is not None and r.esr is None:  # EC and FSC only: the other fields are not known
        lines = [f"{reg} not printed; from the line: " + lines[0].partition(": ")[2]]
        if s.fsc is not None:
            lines.append(f"FSC: {s.fsc}")
    return lines


def _outlook_lines(story: Story) -> list[str]:
    ol = story.outlook
    if ol is None:
        return []
    release = None if story.release_from is None or story.attribution.who is Who.GUEST \
        else story.release
    out: list[str] = []
    if story.outlook_kind == "nisv":
        row = ol.rows[0]
        out.append(f"What KVM does with {ol.question} (Linux model):")
        for c in row.cells:
            out.append(f"  {c.release}: {c.why}; {c.outcome}")
        return out
    if story.outlook_kind == "user":
        out.append("Which host mappings are Device at stage 1 (Linux model, mmap paths): "
                   "only those take an unaligned-access fault:")
        for row in ol.rows:
            c = row.cells[0]
            out.append(f"  {row.source}: {c.outcome}" + (f" ({c.why})" if c.why else ""))
        out.append("The kernel release does not change this: the process's mapping decides.")
        return out
    if release is not None:
        cells = [(row, row.cell(release)) for row in ol.rows]
        faulting = [row for row, c in cells if c is not None and c.faulted]
        fixed = [row for row, c in cells if c is not None and not c.faulted and row.faulting]
        out.append(f"On this host (Linux {release}, from {story.release_from}), by what the "
                   "VMM handed KVM:")
        if faulting:
            out.append(f"  still faulting on {release}: "
                       + "; ".join(row.source for row in faulting) + ".")
        if fixed:
            out.append(f"  not faulting on {release}: " + "; ".join(
                f"{row.source} (fixed from {row.fixed_from})" if row.fixed_from else row.source
                for row in fixed) + ".")
        if faulting and fixed:
            out.append("  So this page reached KVM by one of the ways still faulting; a newer "
                       "release does not change those (the decisions below say why).")
    newest = ol.releases[-1]
    if ol.fault:
        out.append(f"How it faults (Linux model): {ol.fault}.")
    out.append(f"What each release does with {ol.question}, by what the VMM handed KVM (Linux "
               f"model; releases {', '.join(ol.releases)}; with and without FEAT_S2FWB):")
    for row in ol.rows:
        out.append(f"  {row.source}: {row.verdict()}.")
        c = row.cell(newest) or row.cells[-1]
        first = next((x for x in row.cells if x.faulted), None)
        if first is not None and not c.faulted:
            out.append(f"      {first.release}: {first.outcome}; {first.why}.")
        out.append(f"      {c.release}: {c.outcome}; {c.why}.")
    out.extend(f"{n[:1].upper()}{n[1:]}." for n in ol.notes)
    return out


def story_lines(story: Story) -> list[str]:
    """The story as lines of text, from its records."""
    out = [_head(story)]
    out += [f"  {line}" for line in _syndrome_lines(story)]
    r = story.report
    if r is not None and r.far is not None and story.syndrome is not None \
            and story.syndrome.fsc is not None:
        out.append(f"  address: 0x{r.far:016x}")
    if story.ipa is not None:
        out.append(f"  IPA=0x{story.ipa:x} (HPFAR_EL2.FIPA << 12 | FAR_EL2[11:0])")
    if r is not None and r.regs:
        pc = next((v for k, v in r.regs if k == "PC"), None)
        if pc is not None:
            out.append(f"  guest PC=0x{pc:016x}" + (f", PSTATE=0x{r.pstate:08x}"
                                                    if r.pstate is not None else ""))
    out += [f"  {c}" for c in story.checks]
    out.append(f"  {_who_line(story)}")
    if story.release is not None:
        out.append(f"  Kernel: Linux {story.release} (from {story.release_from}).")
    out += [f"  {n}" for n in story.notes]
    if story.chain is not None:
        from .pgchain import chain_lines

        out += [f"  {line}" for line in chain_lines(story.chain)]
    out += [f"  {link}" for link in story.links]
    out += [f"  {line}" for line in _outlook_lines(story)]
    return out


def story_json(story: Story) -> dict[str, Any]:
    """One report's story as JSON (registers as integers with ``*_hex`` strings beside)."""
    s = story.syndrome
    r = story.report
    a = story.attribution
    doc: dict[str, Any] = {
        "index": story.index,
        "kind": r.kind.value if r is not None else "value",
        "printed_by": story.decision.rule.value,
        "lines": [r.first_line, r.last_line] if r is not None else None,
        "message": r.message if r is not None else None,
        "esr": s.value if s is not None else None,
        "far": story.far, "ipa": story.ipa,
        "who": a.who.name.lower(), "who_text": a.who.value, "taken_el": a.taken_el,
        "from_el": a.from_el, "stage": a.stage, "handler": a.handler,
        "attribution": {"rule": story.decision.rule.value, "branch": story.decision.branch,
                        "inputs": {k: v for k, v in story.decision.inputs}},
        "access": story.access,
        "kernel": story.release, "kernel_from": story.release_from,
        "checks": list(story.checks), "notes": list(story.notes), "links": list(story.links),
        "chain": story.chain.to_json() if story.chain is not None else None,
        "outlook": story.outlook.to_json() if story.outlook is not None else None,
        "explanation": story_lines(story),
    }
    if s is not None:
        doc.update({
            "ec": s.ec, "ec_hex": f"0x{s.ec:02x}", "ec_name": s.ec_name,
            "ec_meaning": s.ec_meaning, "il": s.il,
            "fsc": None if s.fsc is None else {"code": s.fsc.code,
                                               "code_hex": f"0x{s.fsc.code:02x}",
                                               "kind": s.fsc.kind.value, "level": s.fsc.level},
            "isv": s.isv, "wnr": s.wnr, "s1ptw": s.s1ptw, "cm": s.cm, "ea": s.ea, "fnv": s.fnv,
            "iss": {"layout": s.iss_layout, "raw": f"0x{s.iss:x}",
                    "fields": [{"name": n, "raw": f"0x{x:x}"} for n, x in s.iss_fields]},
            "iss2": {"layout": s.iss2_layout, "raw": f"0x{s.iss2:x}",
                     "fields": [{"name": n, "raw": f"0x{x:x}"} for n, x in s.iss2_fields]},
        })
    if r is not None:
        doc["kernel_stated"] = r.kernel_version
        doc["pid"], doc["comm"], doc["cpu"] = r.pid, r.comm, r.cpu
        doc["stated"] = {k: v for k, v in r.fields}
        doc["regs"] = [{"name": k, "value": v, "value_hex": f"0x{v:016x}"} for k, v in r.regs]
        doc["pstate"] = r.pstate
        if r.pstate is not None:
            doc["pstate_hex"] = f"0x{r.pstate:08x}"
    return doc
