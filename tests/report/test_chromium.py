"""The report in a real browser: headless Chromium (Debian's ``chromium``) loads the file, the DOM it
builds has the report's parts, nothing outside the file is referenced, and a screenshot is taken.

The browser is installed by the fixture when missing (``apt-get install -y chromium``, as root on
Debian, which CI is); the test is skipped, with the reason, only where it cannot be installed.
``MEMATTR_SCREENSHOT=path`` also copies the screenshot there (``docs/report.png`` in README).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.report.dom import parse

from memattr import cli
from memattr.analysis.ordering import REVIEW_CASES
from memattr.analysis.scenario import bundled

# The flags a headless Chromium needs here: no sandbox as root, no GPU, and no background
# connections (the machine's network is closed; /work/.library/env/machines/python.md).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


def _find() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _install() -> str:
    """apt-get install chromium (updating the package lists when the first try fails); the
    reason it could not be done otherwise."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine (not Debian): install Chromium to run this test"
    if os.geteuid() != 0:
        return "chromium is not installed and installing it needs root (apt-get install chromium)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    for attempt in range(2):
        if attempt:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                           timeout=900, check=False)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800,
                              check=False)
        if done.returncode == 0 and _find():
            return ""
    return f"apt-get install chromium failed: {done.stderr.strip()[-300:]}"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _find()
    if path is None:
        reason = _install()
        path = _find()
        if path is None:
            pytest.skip(f"headless Chromium unavailable: {reason}")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default report (every bundled scenario, every policy in the matrix)."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert cli.main(["report", "-o", str(out)]) == 0
    return out


def _browser(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    shutil.rmtree(profile, ignore_errors=True)
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=False)


def test_the_report_in_chromium(chromium: str, report: Path, tmp_path: Path) -> None:
    """Chromium builds the report's DOM: both heatmaps, a verdict per policy and device class,
    every scenario, a witness per review case (timelines for those with one), the sources; no
    element loads anything (no src), and links are fragments, docs/ or citations."""
    done = _browser(chromium, tmp_path, "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    for section in ("heatmaps", "matrix", "scenarios", "ordering", "sources"):
        assert dom.find_all("section", id=section), section
    assert len(dom.find_all("svg", class_="heatmap")) == 2
    assert len(dom.find_all("figure", class_="heatmap-figure")) == 2
    verdicts = [td.attrs["data-verdict"] for td in dom.find_all("td")
                if "data-verdict" in td.attrs]
    assert verdicts and set(verdicts) <= {"ok", "hazard", "broken"}
    assert {"ok", "broken"} <= set(verdicts)
    assert len(dom.find_all("article", class_="scenario")) == len(bundled())
    witnesses = dom.find_all("article", class_="witness")
    assert len(witnesses) == len(REVIEW_CASES)
    reachable = [w for w in witnesses if w.attrs["data-reachable"] == "1"]
    assert reachable and len(dom.find_all("svg", class_="timeline")) == len(reachable)
    assert not [e for e in dom.iter() if "src" in e.attrs or e.tag in ("script", "link",
                                                                        "iframe", "img")]
    for a in dom.find_all("a"):
        href = a.attrs.get("href", "")
        assert re.match(r"#|([\w.-]+/)*docs/[\w.-]+\.md|https://(lore|git)\.kernel\.org/", href), href


def test_screenshot(chromium: str, report: Path, tmp_path: Path) -> None:
    """A screenshot of the report's first screen is written (a PNG of the window's size)."""
    shot = tmp_path / "report.png"
    done = _browser(chromium, tmp_path, "--window-size=1400,1500", f"--screenshot={shot}",
                    report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 1500)
    assert len(data) > 50_000  # not a blank page
    target = os.environ.get("MEMATTR_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)
