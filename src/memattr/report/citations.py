"""Citations as links: ``docs/<page>.md#anchor`` (relative to the repository), the review's
worked cases named by number (the word "case" or "cases", then a number or a range: each links to
its docs/review.md#worked-cases heading), lore.kernel.org messages and kernel commits.

:func:`cite_html` turns a citation text into HTML with every part escaped and each reference it
recognises made a link; nothing is fetched.
"""

from __future__ import annotations

import html
import re

from ..inputs.escape import escape

__all__ = ["CASES", "case_ref", "cite_html", "commit_url", "text"]

CASES = {
    1: "docs/review.md#case-1-bar-mapped-wc-old-policy",
    2: "docs/review.md#case-2-bar-mapped-wc-new-policy",
    3: "docs/review.md#case-3-bar-mapped-device",
    4: "docs/review.md#case-4-bar-mapped-write-back",
    6: "docs/review.md#case-6-guest-mmu-off",
    8: "docs/review.md#case-8-rejected-alternatives",
    9: "docs/review.md#case-9-stage-2-cache-disable",
    10: "docs/review.md#case-10-vfio-platform-region",
    11: "docs/review.md#case-11-gicv2-virtual-cpu-interface",
    15: "docs/review.md#case-15-guest-ram",
    16: "docs/review.md#case-16-32-bit-kernel",
    18: "docs/review.md#case-18-instruction-fetch-from-a-bar",
    19: "docs/review.md#case-19-executable-device-mapping-refused",
    21: "docs/review.md#case-21-reclaim-pcie",
    22: "docs/review.md#case-22-reclaim-platform-device",
    23: "docs/review.md#case-23-reclaim-what-each-type-needs",
    24: "docs/review.md#case-24-context-switched-peripheral",
    25: "docs/review.md#case-25-error-response-to-a-load",
    27: "docs/review.md#case-27-mismatched-alias",
    28: "docs/review.md#case-28-unaligned-store",
    29: "docs/review.md#case-29-access-with-no-memslot",
    30: "docs/review.md#case-30-x86-ept-and-mmio",
    31: "docs/review.md#case-31-x86-guest-ram-and-pat",
}
"""The worked cases of docs/review.md, by number (tests/test_docs.py checks each anchor)."""

_REF = re.compile(
    r"(?P<url>https://lore\.kernel\.org/[^\s()<>\"';,]+)"
    r"|(?P<doc>(?<![\w/.-])docs/[\w.-]+?\.md(?:#[\w-]+)?)"
    r"|(?P<case>\b[Cc]ases? (?P<first>\d+)(?:\s*-\s*(?P<last>\d+))?\b)")


def text(value: object) -> str:
    """Any text for HTML: control characters escaped (memattr.inputs.escape), then HTML."""
    return html.escape(escape(str(value)), quote=True)


def case_ref(number: int) -> str | None:
    """The docs/review.md reference of a worked case, or None if it has none."""
    return CASES.get(number)


def _href(target: str, base: str) -> str:
    return html.escape(target if target.startswith("https://") else base + target, quote=True)


def cite_html(value: str, docs_base: str = "") -> str:
    """``value`` as HTML, with lore links, docs/ references and worked cases made links.

    :param value: a citation or a sentence holding some.
    :param docs_base: prefix of docs/ links (the path from the report to the repository root,
        with a trailing slash; '' when the report sits at the root).
    """
    out: list[str] = []
    pos = 0
    for m in _REF.finditer(value):
        out.append(text(value[pos:m.start()]))
        pos = m.end()
        shown = text(m.group(0))
        if m["url"]:
            out.append(f'<a href="{_href(m["url"], docs_base)}">{shown}</a>')
        elif m["doc"]:
            out.append(f'<a href="{_href(m["doc"], docs_base)}">{shown}</a>')
        else:
            ref = case_ref(int(m["first"]))
            out.append(f'<a href="{_href(ref, docs_base)}">{shown}</a>' if ref else shown)
    out.append(text(value[pos:]))
    return "".join(out)


def commit_url(commit_id: str) -> str | None:
    """A link for a cited commit: the posting on lore for a Message-ID, the commit on
    git.kernel.org for a hash; None otherwise."""
    if "@" in commit_id:
        return f"https://lore.kernel.org/all/{commit_id}/"
    if re.fullmatch(r"[0-9a-f]{12,40}", commit_id):
        return f"https://git.kernel.org/torvalds/c/{commit_id}"
    return None
