"""Every documentation reference in the repository points at a page and a heading that exist,
and the README stays a front page.

References are markdown links in any ``.md`` file (relative targets: the file must exist; a
``#fragment`` into a markdown page must be one of its headings) and ``docs/<page>.md#anchor``
written anywhere — code comments, SQL headers, YAML descriptions, generated files. Anchors are
the slugs GitHub gives headings, so a link that works here works on GitHub.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 200
DEMO_COMMAND = "python3 -m pip install . && saas-retention demo"
TEXT_SUFFIXES = {".md", ".py", ".sql", ".yml", ".yaml", ".toml", ".txt", ".cfg", ".json", ".ini"}
TEXT_NAMES = {"Makefile", "run"}
SKIP_DIRS = {".git", ".nox", ".venv", "__pycache__", ".hypothesis", ".pytest_cache",
             ".ruff_cache", "build", "dist", "node_modules"}

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
MD_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# `docs/<page>.md` or `docs/<page>.md#anchor`, not inside a longer path or URL.
DOC_MENTION = re.compile(r"(?<![\w/.-])(docs/[\w.-]+\.md)(#[\w-]+)?")
# The form every reference had before docs/definitions.md: a section number of a page that
# has no numbered sections.
OLD_SECTION = re.compile(r"METRICS\.md\s*§")


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: its rendered text lower-cased, every character but
    letters, digits, ``-``, ``_`` and spaces dropped, spaces turned into ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link renders as its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML renders as nothing
    text = text.lower()
    text = "".join(c for c in text if c.isalnum() or c in "-_ ")
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors of a page's headings (outside code blocks), repeats numbered ``-1``, ``-2``
    as GitHub does."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    in_code = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        m = None if in_code else HEADING.match(line)
        if not m:
            continue
        slug = github_slug(m.group(2))
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def text_files(root: Path) -> list[Path]:
    """Tracked and untracked-but-not-ignored text files; without git, every file outside the
    usual tool and cache folders."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, text=True, check=True).stdout
        paths = [root / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in root.rglob("*")
                 if not SKIP_DIRS.intersection(p.relative_to(root).parts)]
    return sorted(p for p in paths if p.is_file()
                  and (p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES))


def references(root: Path) -> list[tuple[str, Path, str]]:
    """(where, target file, anchor or "") for every reference found under ``root``."""
    refs: list[tuple[str, Path, str]] = []
    for path in text_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "docs/" not in text and path.suffix != ".md":
            continue  # most generated SQL: skip the line-by-line scan
        rel = path.relative_to(root)
        for lineno, line in enumerate(text.splitlines(), 1):
            where = f"{rel}:{lineno}"
            if "docs/" in line:
                for m in DOC_MENTION.finditer(line):
                    refs.append((where, root / m.group(1), (m.group(2) or "").lstrip("#")))
            if path.suffix != ".md" or "](" not in line:
                continue
            for m in MD_LINK.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                    continue  # a URL (https:, mailto:…)
                file_part, _, anchor = target.partition("#")
                refs.append((where, (path.parent / file_part) if file_part else path, anchor))
    return refs


def broken(root: Path) -> list[str]:
    problems = []
    page_anchors: dict[Path, set[str]] = {}
    for where, target, anchor in references(root):
        target = target.resolve()
        if not target.exists():
            problems.append(f"{where}: {target.relative_to(root.resolve())} does not exist")
            continue
        if not anchor or target.suffix != ".md":
            continue
        if target not in page_anchors:
            page_anchors[target] = anchors(target.read_text(encoding="utf-8"))
        if anchor not in page_anchors[target]:
            problems.append(f"{where}: {target.relative_to(root.resolve())} has no heading "
                            f"with the anchor #{anchor}")
    # a markdown link to docs/… is also a mention of it: report it once
    return sorted(set(problems))


@pytest.mark.parametrize(("heading", "slug"), [
    ("Time rules", "time-rules"),
    ("`build --incremental`: refresh", "build---incremental-refresh"),
    ("Trial → paid conversion", "trial--paid-conversion"),
    ("NRR & GRR (12 months)", "nrr--grr-12-months"),
    ("Metric functions inside Superset", "metric-functions-inside-superset"),
    ("[Links](x.md) keep their text", "links-keep-their-text"),
    ("customer_periods", "customer_periods"),
    ("Données privées", "données-privées"),
])
def test_slugs_are_githubs(heading, slug):
    assert github_slug(heading) == slug


def test_repeated_headings_and_code_blocks():
    page = "# A\n## Setup\n```yaml\n# not a heading\n```\n## Setup\n## Setup ##\n"
    assert anchors(page) == {"a", "setup", "setup-1", "setup-2"}


def test_the_checker_finds_what_is_broken(tmp_path):
    # the paths are assembled so that this file holds no reference of its own
    d = "docs/"
    (tmp_path / "docs").mkdir()
    (tmp_path / d / "page.md").write_text("# Page\n\n## Time rules\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        f"[ok]({d}page.md#time-rules) [gone]({d}page.md#time) [none]({d}missing.md) "
        "[web](https://example.com/x.md#y) [here](#nowhere)\n", encoding="utf-8")
    (tmp_path / "model.yml").write_text(
        f"description: see {d}page.md#time-rules and {d}page.md#spine\n", encoding="utf-8")
    (tmp_path / "mod.py").write_text(f"# policy: {d}page.md#time-rules\n", encoding="utf-8")
    assert broken(tmp_path) == [
        "README.md:1: README.md has no heading with the anchor #nowhere",
        f"README.md:1: {d}missing.md does not exist",
        f"README.md:1: {d}page.md has no heading with the anchor #time",
        f"model.yml:1: {d}page.md has no heading with the anchor #spine",
    ]


def test_every_doc_reference_points_at_a_heading_that_exists():
    refs = references(ROOT)
    # the check is only as good as what it reads: code, SQL, YAML and markdown all cite pages
    cited_from = {Path(where.split(":")[0]).suffix for where, _, anchor in refs if anchor}
    assert {".md", ".py", ".yml", ".sql"} <= cited_from, cited_from
    assert broken(ROOT) == []


def test_no_reference_to_numbered_sections_that_do_not_exist():
    stale = []
    for path in text_files(ROOT):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "§" in text:
            stale += [f"{path.relative_to(ROOT)}:{n}"
                      for n, line in enumerate(text.splitlines(), 1) if OLD_SECTION.search(line)]
    assert stale == [], "cite docs/definitions.md#<anchor> instead"


def test_readme_is_a_front_page_that_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; move detail into docs/ (at most {README_MAX_LINES})")
    assert lines[0].startswith("# ")
    body = [line for line in lines[1:] if line.strip()]
    assert body[0].startswith("```"), "the README's first lines are the two commands"
    block = body[1:body.index("```", 1)]
    commands = [line.split("  #")[0].strip() for line in block]
    comments = [line.split("  #", 1)[1].strip() if "  #" in line else "" for line in block]
    assert len(block) == 2, block
    assert commands[0] == DEMO_COMMAND
    assert comments[0].startswith("demo") and comments[1].startswith("tests"), comments
