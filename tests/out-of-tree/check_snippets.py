#!/usr/bin/env python3
"""Checks that the guides quote only code the build compiles.

A quote in docs/*.md is a fenced block right after a marker line:

    <!-- snippet: PATH#NAME -->   the block equals the lines between
                                  "[guide:NAME]" and "[/guide:NAME]" in PATH
    <!-- snippet: PATH -->        the block is a verbatim run of lines of PATH

PATH is relative to the source root. Every ```c and ```cpp block must be such
a quote. Prints one line per problem (guide:line: what) and exits 1 if any.
Usage: check_snippets.py SOURCE_ROOT
"""
import pathlib
import re
import sys

MARKER = re.compile(r"^<!-- snippet: (?P<path>[^#\s]+)(#(?P<name>[\w-]+))? -->$")
FENCE = re.compile(r"^```(?P<lang>\S*)$")
QUOTED_ONLY = {"c", "cpp"}


def region(lines, name):
    """Lines strictly between the [guide:NAME] and [/guide:NAME] markers."""
    starts = [i for i, l in enumerate(lines) if l.strip().endswith(f"[guide:{name}]")]
    ends = [i for i, l in enumerate(lines) if l.strip().endswith(f"[/guide:{name}]")]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        return None
    return lines[starts[0] + 1 : ends[0]]


def contains_run(lines, block):
    n = len(block)
    return n > 0 and any(lines[i : i + n] == block for i in range(len(lines) - n + 1))


def check_guide(root, guide, problems):
    text = guide.read_text().splitlines()
    quotes = 0
    i = 0
    while i < len(text):
        fence = FENCE.match(text[i])
        if not fence or not fence.group("lang"):
            i += 1
            continue
        end = next((j for j in range(i + 1, len(text)) if text[j] == "```"), None)
        where = f"{guide.relative_to(root)}:{i + 1}"
        if end is None:
            problems.append(f"{where}: code block never closed")
            return quotes
        block = text[i + 1 : end]
        marker = MARKER.match(text[i - 1]) if i > 0 else None
        if marker is None:
            if fence.group("lang") in QUOTED_ONLY:
                problems.append(f"{where}: {fence.group('lang')} block without a snippet marker")
        else:
            source = root / marker.group("path")
            if not source.is_file():
                problems.append(f"{where}: {marker.group('path')} does not exist")
            else:
                lines = source.read_text().splitlines()
                name = marker.group("name")
                if name:
                    expected = region(lines, name)
                    if expected is None:
                        problems.append(f"{where}: no single [guide:{name}] region in {source}")
                    elif block != expected:
                        problems.append(f"{where}: block differs from {marker.group('path')}#{name}")
                elif not contains_run(lines, block):
                    problems.append(f"{where}: block is not a verbatim excerpt of {marker.group('path')}")
                quotes += 1
        i = end + 1
    return quotes


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    guides = sorted((root / "docs").glob("*.md")) + sorted(root.glob("plugin-api/README.md"))
    guides += [root / "README.md"]
    problems = []
    quotes = sum(check_guide(root, g, problems) for g in guides)
    for p in problems:
        print(p)
    if quotes == 0:
        print("no snippet quotes found in", ", ".join(str(g) for g in guides) or "docs/")
        return 1
    print(f"{quotes} quoted snippets checked in {len(guides)} guide(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
