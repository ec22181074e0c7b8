#!/usr/bin/env python3
"""Checks that seawall's `rust-version` is the highest any dependency needs.

With every feature on, walks the resolved dependency graph from seawall
through normal and build dependencies, on every platform (dev-dependencies
and the `cfg(loom)` model checker are the tests' business, not a user's) and reads each package's own `rust-version`. The
highest is what a user's build needs; seawall's `rust-version` must say
exactly that, so the README's stated minimum is never a promise the
dependencies break, nor lower than what they allow.

    python3 scripts/msrv.py          # exit 1, naming the packages, on a mismatch
"""

import json
import subprocess
import sys


def version_key(text):
    return tuple(int(part) for part in text.split("."))


def main():
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {package["id"]: package for package in metadata["packages"]}
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}
    root = next(p for p in metadata["packages"] if p["name"] == "seawall" and p["source"] is None)

    needed = {}
    seen = set()
    todo = [root["id"]]
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        for dep in nodes[node_id]["deps"]:
            # Not dev-dependencies, nor the model checker's (built only
            # under `--cfg loom`, never in a user's build).
            kinds = [
                kind
                for kind in dep["dep_kinds"]
                if kind["kind"] != "dev" and kind.get("target") != "cfg(loom)"
            ]
            if kinds:
                todo.append(dep["pkg"])
        package = packages[node_id]
        if node_id != root["id"] and package.get("rust_version"):
            needed[f'{package["name"]} {package["version"]}'] = package["rust_version"]

    declared = root.get("rust_version")
    highest = max(needed.values(), key=version_key)
    at_highest = sorted(name for name, version in needed.items() if version_key(version) == version_key(highest))
    print(f"seawall declares rust-version {declared}; its dependencies need at most {highest} ({', '.join(at_highest)})")
    if declared is None or version_key(declared) != version_key(highest):
        print(f"Set rust-version = \"{highest}\" in Cargo.toml and README's \"Minimum Rust version\".")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
