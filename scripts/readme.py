#!/usr/bin/env python3
"""Keeps README.md's Rust snippets equal to crates that CI builds.

Every ```rust block of README.md is preceded by a marker naming a crate of the
workspace under tests/readme/, and by a ```toml block:

    <!-- readme-crate: tests/readme/quickstart -->
    ```toml
    [dependencies]
    ...                      the crate's [dependencies] section, verbatim
    ```
    ```rust
    ...                      the crate's src/main.rs
    ```

The rust block is the whole of src/main.rs, or, where main.rs has lines
`// README: begin` and `// README: end`, the lines between each such pair
(each region dedented, regions separated by a blank line).

    python3 scripts/readme.py --check    fail on any difference or unmarked block (CI)
    python3 scripts/readme.py --write    rewrite README.md's blocks from the crates
    python3 scripts/readme.py --members  print "NAME build" or "NAME run" per crate

A crate whose Cargo.toml has `[package.metadata.readme]` with `run = true`
talks only to 127.0.0.1 (or to nothing) and ends by itself, so CI runs it too.
"""

import argparse
import difflib
import os
import re
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
WORKSPACE = os.path.join(ROOT, "tests", "readme")

# Headings whose Rust blocks have no crate yet (their section is being
# rewritten elsewhere). Each is reported on every run.
MARKER = re.compile(r"^<!-- readme-crate: (\S+) -->$")
FENCE = re.compile(r"^(`{3,})\s*([^`]*)$")
BEGIN = "// README: begin"
END = "// README: end"


class Problem(Exception):
    """A difference or a malformed README, with where it is."""


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def parse_blocks(lines):
    """Every fenced block: (info, first content line, end line, section).

    Line numbers are 0-based indexes into `lines`; `end` is the closing fence.
    """
    blocks = []
    section = "(top)"
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence is None:
            if line.startswith("#"):
                section = line.strip()
            i += 1
            continue
        ticks, info = fence.group(1), fence.group(2).strip()
        j = i + 1
        while j < len(lines) and not (
            lines[j].startswith(ticks) and lines[j].strip() == "`" * len(lines[j].strip())
        ):
            j += 1
        if j == len(lines):
            raise Problem(f"README.md:{i + 1}: a ``` block that never closes")
        blocks.append({"info": info, "start": i, "body": i + 1, "end": j, "section": section})
        i = j + 1
    return blocks


def is_rust(block):
    return block["info"].split(",")[0].strip() == "rust"


def previous_nonblank(lines, index):
    """The index of the last non-blank line before `index`, or -1."""
    index -= 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    return index


def dependencies_of(crate_dir):
    """The [dependencies] section of the crate's Cargo.toml, header included."""
    path = os.path.join(crate_dir, "Cargo.toml")
    lines = read(path).splitlines()
    try:
        start = lines.index("[dependencies]")
    except ValueError:
        raise Problem(f"{rel(path)}: no [dependencies] section") from None
    end = start + 1
    while end < len(lines) and not lines[end].startswith("["):
        end += 1
    section = lines[start:end]
    # Blank lines and comments at its end belong to the next section.
    while section and (not section[-1].strip() or section[-1].lstrip().startswith("#")):
        section.pop()
    return section


def shown_source(crate_dir):
    """What README shows of the crate's src/main.rs."""
    path = os.path.join(crate_dir, "src", "main.rs")
    lines = read(path).splitlines()
    marks = [(n, line.strip()) for n, line in enumerate(lines) if line.strip() in (BEGIN, END)]
    if not marks:
        return lines
    regions = []
    for k in range(0, len(marks), 2):
        pair = marks[k : k + 2]
        if len(pair) != 2 or pair[0][1] != BEGIN or pair[1][1] != END:
            raise Problem(f"{rel(path)}:{marks[k][0] + 1}: unpaired `{BEGIN}` / `{END}`")
        region = textwrap.dedent("\n".join(lines[pair[0][0] + 1 : pair[1][0]]))
        regions.append(region.strip("\n"))
    return "\n\n".join(regions).splitlines()


def rel(path):
    return os.path.relpath(path, ROOT)


def members():
    """The workspace's members, in its order."""
    text = read(os.path.join(WORKSPACE, "Cargo.toml"))
    found = re.search(r"^members\s*=\s*\[(.*?)\]", text, re.S | re.M)
    if found is None:
        raise Problem("tests/readme/Cargo.toml: no members list")
    return re.findall(r'"([^"]+)"', found.group(1))


def runs(name):
    text = read(os.path.join(WORKSPACE, name, "Cargo.toml"))
    found = re.search(r"^\[package\.metadata\.readme\]\s*\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    return bool(found and re.search(r"^run\s*=\s*true\s*$", found.group(1), re.M))


def diff(expected, actual, expected_name, actual_name):
    return "".join(
        difflib.unified_diff(
            [line + "\n" for line in expected],
            [line + "\n" for line in actual],
            expected_name,
            actual_name,
        )
    )


def plan(lines):
    """Each marked pair of blocks with what the crate says they should hold.

    Returns (replacements, problems); a replacement is
    (first line, end line, new lines, crate file, what) for one block body.
    """
    replacements, problems = [], []
    blocks = parse_blocks(lines)
    used = {}
    for block in blocks:
        if not is_rust(block):
            continue
        where = f"README.md:{block['start'] + 1} ({block['section']})"
        toml_at = previous_nonblank(lines, block["start"])
        toml = next((b for b in blocks if b["end"] == toml_at), None)
        marker_at = previous_nonblank(lines, toml["start"]) if toml else -1
        marker = MARKER.match(lines[marker_at]) if marker_at >= 0 else None
        if toml is None or toml["info"] != "toml" or marker is None:
            problems.append(
                f"{where}: a ```rust block without its crate: put\n"
                "    <!-- readme-crate: tests/readme/NAME -->\n"
                "  then a ```toml block with NAME's [dependencies] just before it"
            )
            continue
        crate = marker.group(1)
        crate_dir = os.path.join(ROOT, crate)
        name = os.path.relpath(crate_dir, WORKSPACE)
        if name in used:
            problems.append(f"{where}: {crate} is already shown at {used[name]}")
            continue
        used[name] = where
        if not os.path.isfile(os.path.join(crate_dir, "src", "main.rs")):
            problems.append(f"{where}: {crate}/src/main.rs does not exist")
            continue
        try:
            expected = [
                (toml, dependencies_of(crate_dir), f"{crate}/Cargo.toml [dependencies]"),
                (block, shown_source(crate_dir), f"{crate}/src/main.rs"),
            ]
        except Problem as problem:
            problems.append(str(problem))
            continue
        for shown, wanted, source in expected:
            actual = lines[shown["body"] : shown["end"]]
            if actual != wanted:
                replacements.append((shown["body"], shown["end"], wanted, source, where))
                problems.append(
                    f"{where}: the ```{shown['info']} block differs from {source}"
                    f" (README.md line {shown['start'] + 1}):\n"
                    + diff(wanted, actual, source, "README.md")
                )
    for name in members():
        if name not in used:
            problems.append(f"tests/readme/{name}: a member no README block shows")
    for name in used:
        if name not in members():
            problems.append(f"{used[name]}: tests/readme/{name} is not a member of tests/readme")
    return replacements, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail on any difference")
    mode.add_argument("--write", action="store_true", help="rewrite README.md from the crates")
    mode.add_argument("--members", action="store_true", help='print "NAME build|run" per crate')
    args = parser.parse_args()

    try:
        if args.members:
            for name in members():
                print(name, "run" if runs(name) else "build")
            return 0
        lines = read(README).splitlines()
        replacements, problems = plan(lines)
    except Problem as problem:
        print(f"readme: {problem}", file=sys.stderr)
        return 1

    if args.write:
        for first, end, wanted, source, where in sorted(replacements, reverse=True):
            lines[first:end] = wanted
            print(f"readme: {where}: rewritten from {source}")
        if replacements:
            with open(README, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        # What --write cannot fix (an unmarked block, a missing crate) still fails.
        problems = plan(lines)[1]
    for problem in problems:
        print(f"readme: {problem}", file=sys.stderr)
    if problems:
        print(
            f"readme: {len(problems)} problem(s); `python3 scripts/readme.py --write`"
            " copies the crates into README.md",
            file=sys.stderr,
        )
        return 1
    print(f"readme: every Rust block of README.md matches its crate ({len(members())} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
