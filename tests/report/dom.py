"""A small DOM reader for the report tests (standard library html.parser): elements with their
attributes, text and parent, enough to count and look up what a browser built."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Element", "parse", "VOID"]

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})


@dataclass
class Element:
    """One element: tag, attributes, children, text directly inside it."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def iter(self) -> list[Element]:
        out = [self]
        for c in self.children:
            out += c.iter()
        return out

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Elements below (and including) this one with ``tag`` and every attribute given
        (``class_`` matches one class among several)."""
        found = []
        for e in self.iter():
            if tag is not None and e.tag != tag:
                continue
            ok = True
            for k, v in attrs.items():
                key = "class" if k == "class_" else k.replace("_", "-")
                have = e.attrs.get(key)
                if have is None or (key == "class" and v not in have.split()) or \
                        (key != "class" and have != v):
                    ok = False
                    break
            if ok:
                found.append(e)
        return found

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        e = Element(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(e)
        if tag not in VOID:
            self.cur = e

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.cur))

    def handle_endtag(self, tag: str) -> None:
        e: Element | None = self.cur
        while e is not None and e.tag != tag:
            e = e.parent
        if e is not None and e.parent is not None:
            self.cur = e.parent

    def handle_data(self, data: str) -> None:
        self.cur.text.append(data)


def parse(html_text: str) -> Element:
    """The document's element tree."""
    b = _Builder()
    b.feed(html_text)
    b.close()
    return b.root
