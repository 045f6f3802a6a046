"""Citations of the project's reference (docs/) resolve, and the package cites no private notes.

Code, tests and docs cite rules as ``docs/<page>.md#<anchor>``, where the anchor is the GitHub
slug of a heading (docs/README.md, "How to cite"), or a primary source (an Arm ARM section or ASL
function; a kernel file, function, commit or release).  These tests check every such reference,
every relative link between the docs pages and every "case N" the docs name; and that neither
``src/`` nor what the CLI prints names the research notes (``arch.md``, ``linux.md``,
``scenarios.md``) that users do not have, or a worked case by its bare number ("case 21"): a worked
case is cited by its heading's anchor, ``docs/review.md#case-21-reclaim-pcie``.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "memattr"

TEXT_SUFFIXES = frozenset({".py", ".md", ".toml", ".txt", ".json", ".cfg", ".ini", ".rst"})

PENDING_PAGES: frozenset[str] = frozenset()
"""Pages another piece of work is writing: a citation may name them before they land (no anchor
check until the file exists)."""

# A docs/ page cited from anywhere: docs/<page>.md, optionally #anchor.  Not part of a longer path.
_DOC_REF = re.compile(r"(?<![\w/.-])docs/(?P<page>[\w.-]+?\.md)(?:#(?P<anchor>[\w-]+))?")
# A markdown link target inside docs/*.md: ](target) or ](<target>).
_MD_LINK = re.compile(r"\]\(<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\)")
# A notes file named in src/: arch.md, linux.md, scenarios.md, with whatever path precedes it.
_NOTES_REF = re.compile(r"(?<![\w.-])(?P<path>(?:[\w./-]*/)?)(?P<name>(?:arch|linux|scenarios)\.md)\b")
# "case 21", "cases 21-23", "cases 10, 11 and 15" (worked-case citations).
_CASE_REF = re.compile(
    r"\b[Cc]ases? (?P<nums>\d+(?:(?:\s*[-\u2013]\s*|,\s*|\s+and\s+)\d+)*)(?!\w|\.\d)")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<text>.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"(?P<id>[^\"]+)\"", re.IGNORECASE)


# --- helpers -----------------------------------------------------------------------------------


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but '-' and '_' dropped, ' ' -> '-'.

    :param heading: the heading's markdown text (without the leading hashes).
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML disappears
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _headings(text: str) -> list[str]:
    """The ATX heading texts of a markdown document, outside fenced code blocks."""
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        m = _HEADING.match(line)
        if m:
            out.append(m.group("text"))
    return out


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every anchor of a markdown page: heading slugs (repeats get -1, -2 ...) and HTML ids.

    :param page: path of the markdown file.
    """
    text = page.read_text(encoding="utf-8")
    seen: Counter[str] = Counter()
    out: set[str] = set()
    for heading in _headings(text):
        slug = github_slug(heading)
        out.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    out.update(m.group("id") for m in _HTML_ANCHOR.finditer(text))
    return frozenset(out)


def _text_files(base: Path) -> list[Path]:
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*")
                  if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts)


def _scanned() -> list[Path]:
    """The files whose docs/ citations must resolve: src/, tests/, README.md and docs/."""
    files: list[Path] = []
    for base in (ROOT / "src", ROOT / "tests", ROOT / "README.md", DOCS):
        if base.exists():
            files.extend(_text_files(base))
    return files


def _lines(path: Path) -> list[tuple[int, str]]:
    return list(enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1))


def resolve_problem(page: str, anchor: str | None) -> str | None:
    """Why ``docs/<page>#<anchor>`` does not resolve, or None if it does.

    :param page: file name inside docs/ (``review.md``).
    :param anchor: the part after '#', or None.
    """
    path = DOCS / page
    if not path.is_file():
        return None if page in PENDING_PAGES else f"no such page docs/{page}"
    if anchor is not None and anchor not in anchors(path):
        return f"docs/{page} has no heading with anchor #{anchor}"
    return None


def _doc_refs(path: Path) -> list[tuple[int, str, str | None]]:
    # Test-data tables below quote deliberately broken references; this module is checked by the
    # tests that use them, so it is skipped here.
    if path == Path(__file__).resolve():
        return []
    return [(n, m.group("page"), m.group("anchor"))
            for n, line in _lines(path) for m in _DOC_REF.finditer(line)]


@cache
def worked_cases() -> frozenset[int]:
    """The case numbers with a heading 'Case N: ...' in docs/review.md."""
    nums = set()
    for heading in _headings((DOCS / "review.md").read_text(encoding="utf-8")):
        m = re.match(r"Case (\d+):", heading)
        if m:
            nums.add(int(m.group(1)))
    return frozenset(nums)


def cited_cases(nums: str) -> list[int]:
    """The case numbers a citation names; of a range only its ends ("21-28" cites 21 and 28).

    :param nums: the text after "case(s) ", such as ``"10, 11 and 15"``.
    """
    out: list[int] = []
    for part in re.split(r",\s*|\s+and\s+", nums):
        out.extend(int(x) for x in re.split(r"\s*[-\u2013]\s*", part.strip()) if x)
    return out


def notes_citations(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each citation of the research notes in a source file.

    A name preceded by ``docs/`` is the project's own page, not a notes citation.
    """
    out = []
    for n, line in _lines(path):
        for m in _NOTES_REF.finditer(line):
            if not m.group("path").endswith("docs/"):
                out.append((n, line.strip()))
    return out


# --- the helpers behave ----------------------------------------------------------------------------


@pytest.mark.parametrize(("heading", "slug"), [
    ("Case 21: reclaim, PCIe", "case-21-reclaim-pcie"),
    ("stage2_set_prot_attr", "stage2_set_prot_attr"),
    ("AT and PAR", "at-and-par"),
    ("`VM_ALLOW_ANY_UNCACHED` and [the flag](x.md)", "vm_allow_any_uncached-and-the-flag"),
    ("Merged in 6.9 -- finally", "merged-in-69----finally"),
    ("Gathering, reordering and early acknowledgement", "gathering-reordering-and-early-acknowledgement"),
])
def test_github_slug(heading: str, slug: str) -> None:
    """Headings turn into GitHub's anchors."""
    assert github_slug(heading) == slug


def test_anchors_skip_code_fences_and_number_repeats(tmp_path: Path) -> None:
    """A '#' line inside a code fence is no heading, and a repeated heading gets -1."""
    page = tmp_path / "p.md"
    page.write_text("# Top\n\n```toml\n# not a heading\n```\n\n## Part\n\n## Part\n", encoding="utf-8")
    assert anchors(page) == {"top", "part", "part-1"}


def test_reference_patterns_find_what_they_should() -> None:
    """The scanners pick out docs references, notes citations and case numbers, and nothing else."""
    text = "see docs/review.md#case-21-reclaim-pcie. and docs/scenarios.md, not x/docs/a.md"
    assert [(m.group("page"), m.group("anchor")) for m in _DOC_REF.finditer(text)] == [
        ("review.md", "case-21-reclaim-pcie"), ("scenarios.md", None)]
    found = [m.group("path") + m.group("name")
             for m in _NOTES_REF.finditer("arch.md 7; docs/scenarios.md; /work/shared/reference/linux.md")]
    assert found == ["arch.md", "docs/scenarios.md", "/work/shared/reference/linux.md"]
    assert cited_cases("10, 11 and 15") == [10, 11, 15]
    assert cited_cases("21-28") == [21, 28]
    text = "Cases 21-23 (and case 8); in any case; the case 0b100; case 2.1"
    assert [m.group("nums") for m in _CASE_REF.finditer(text)] == ["21-23", "8"]


def test_resolve_problem_reports_missing_pages_and_anchors() -> None:
    """A wrong page or anchor is reported; a right one and a pending page are not."""
    assert resolve_problem("review.md", "case-21-reclaim-pcie") is None
    assert resolve_problem("review.md", "case-99-nothing") == (
        "docs/review.md has no heading with anchor #case-99-nothing")
    assert resolve_problem("nope.md", None) == "no such page docs/nope.md"
    assert resolve_problem("linux-versions.md", "anything") is None or (DOCS / "linux-versions.md").exists()


# --- the checks ----------------------------------------------------------------------------------


def test_docs_pages_exist() -> None:
    """The reference pages this work provides are present."""
    for page in ("README.md", "architecture.md", "review.md", "scenarios.md", "ordering.md"):
        assert (DOCS / page).is_file(), page


def test_every_docs_reference_resolves() -> None:
    """Every docs/<page>.md#<anchor> in src/, tests/, README.md and docs/ names a page and heading."""
    problems = []
    for path in _scanned():
        for n, page, anchor in _doc_refs(path):
            why = resolve_problem(page, anchor)
            if why:
                problems.append(f"{path.relative_to(ROOT)}:{n}: {why}")
    assert not problems, "\n".join(problems)


def test_links_between_docs_pages_resolve() -> None:
    """Every relative link in docs/*.md reaches an existing file and, with '#', an existing heading."""
    problems = []
    for page in sorted(DOCS.glob("*.md")):
        for n, line in _lines(page):
            for m in _MD_LINK.finditer(line):
                target = m.group("target")
                if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                    continue
                file_part, _, anchor = target.partition("#")
                dest = (page.parent / file_part).resolve() if file_part else page
                where = f"docs/{page.name}:{n}: {target}"
                if not dest.exists():
                    if not (dest.parent == DOCS and dest.name in PENDING_PAGES):
                        problems.append(f"{where}: no such file")
                    continue
                if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    problems.append(f"{where}: no such heading")
    assert not problems, "\n".join(problems)


def test_every_case_the_docs_name_is_a_worked_case() -> None:
    """Each "case N" that docs/ and README.md name has a 'Case N:' heading in docs/review.md."""
    cases = worked_cases()
    assert {1, 21, 31} <= cases
    problems = []
    for path in [*_text_files(DOCS), ROOT / "README.md"]:
        for n, line in _lines(path):
            for m in _CASE_REF.finditer(line):
                missing = [c for c in cited_cases(m.group("nums")) if c not in cases]
                if missing:
                    problems.append(f"{path.relative_to(ROOT)}:{n}: case {missing} is not in docs/review.md")
    assert not problems, "\n".join(problems)


def private_citations(text: str) -> list[str]:
    """What in ``text`` cites something a user does not have: a notes file (arch.md, linux.md,
    scenarios.md, not preceded by docs/) or a worked case by its bare number ("case 21").

    :param text: a line of source or of printed output.
    """
    out = [m.group(0) for m in _NOTES_REF.finditer(text) if not m.group("path").endswith("docs/")]
    out.extend(m.group(0) for m in _CASE_REF.finditer(text))
    return out


def test_private_citations_are_found() -> None:
    """The guard finds notes files and bare case numbers, and lets docs/ anchors through."""
    assert private_citations("(linux.md 3.8) and scenarios.md cases 21-23; case 8: FWB") == [
        "linux.md", "scenarios.md", "cases 21-23", "case 8"]
    assert private_citations("docs/scenarios.md; docs/review.md#case-21-reclaim-pcie; the case 0b100") == []


def test_src_cites_no_research_notes_and_no_bare_case() -> None:
    """No file in src/ (code, comments, docstrings, bundled scenario and policy files) cites the
    research notes or a worked case by number: cite docs/<page>.md#<anchor> or a primary source."""
    problems = [f"src/memattr/{path.relative_to(SRC).as_posix()}:{n}: {found}: {line.strip()}"
                for path in _text_files(SRC) for n, line in _lines(path)
                for found in private_citations(line)]
    assert not problems, ("cite docs/ instead (docs/README.md, 'How to cite'):\n"
                          + "\n".join(problems))


# --- what the CLI prints ------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    from memattr import cli

    try:
        cli.main(list(argv))
    except SystemExit:  # --help
        pass
    out, err = capsys.readouterr()
    return out + err


def _check_printed(text: str, what: str) -> None:
    """No private citation in ``text``, and every docs/ reference it prints resolves."""
    problems = [f"{what}: {found}: {line.strip()}" for line in text.splitlines()
                for found in private_citations(line)]
    for m in _DOC_REF.finditer(text):
        why = resolve_problem(m.group("page"), m.group("anchor"))
        if why:
            problems.append(f"{what}: {why}")
    assert not problems, "\n".join(problems)


def _bundled() -> list[str]:
    from memattr.analysis.scenario import bundled

    return sorted(bundled())


@pytest.mark.parametrize("name", _bundled())
def test_run_output_cites_only_docs_and_primary_sources(name: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``memattr run NAME`` (text and JSON) for every bundled scenario cites no notes and no bare
    case number, and each docs/ reference it prints names an existing page and heading."""
    text = _cli(capsys, "run", name, "--color", "never")
    assert f"scenario {name} " in text
    _check_printed(text, f"memattr run {name}")
    _check_printed(_cli(capsys, "run", name, "--json"), f"memattr run {name} --json")


def test_help_demo_and_report_sections_cite_only_docs(capsys: pytest.CaptureFixture[str]) -> None:
    """Every command's --help, ``memattr demo``, ``memattr explain`` of the sample logs and the
    HTML report's ordering and sources sections cite no notes and no bare case number."""
    from memattr.cli import COMMANDS
    from memattr.report.html import ordering_section, sources_section

    assert "run" in COMMANDS
    _check_printed(_cli(capsys, "--help"), "memattr --help")
    for command in COMMANDS:
        _check_printed(_cli(capsys, command, "--help"), f"memattr {command} --help")
    assert "docs/scenarios.md" in _cli(capsys, "run", "--help")
    _check_printed(_cli(capsys, "demo"), "memattr demo")
    logs = sorted((ROOT / "tests" / "data").glob("log_*"))
    assert logs
    for log in logs:
        _check_printed(_cli(capsys, "explain", str(log)), f"memattr explain {log.name}")
    section = ordering_section()
    assert "docs/review.md#case-21-reclaim-pcie" in section
    _check_printed(section, "report: ordering section")
    _check_printed(sources_section(["6.8", "6.9", "6.17", "v2"]), "report: sources section")
