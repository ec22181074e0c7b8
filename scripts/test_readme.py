#!/usr/bin/env python3
"""Tests of scripts/readme.py on small READMEs and crates in a temporary folder.

    python3 scripts/test_readme.py
"""

import contextlib
import io
import os
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import readme  # noqa: E402

MAIN = """\
use seawall::BoxError;

fn main() -> Result<(), BoxError> {
    Ok(())
}
"""

CARGO = """\
[package]
name = "{name}"
version = "0.0.0"
edition = "2021"

[dependencies]
seawall = "0.2"
# needs nothing else

[package.metadata.readme]
run = true
"""


def block(name, deps, source):
    return (
        f"<!-- readme-crate: tests/readme/{name} -->\n"
        f"```toml\n{deps}```\n"
        f"```rust\n{source}```\n"
    )


class Checker(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        root = self.dir.name
        self.saved = (readme.ROOT, readme.README, readme.WORKSPACE)
        readme.ROOT = root
        readme.README = os.path.join(root, "README.md")
        readme.WORKSPACE = os.path.join(root, "tests", "readme")
        self.crate("first", MAIN)
        self.members(["first"])

    def tearDown(self):
        readme.ROOT, readme.README, readme.WORKSPACE = self.saved
        self.dir.cleanup()

    def crate(self, name, source, cargo=CARGO):
        path = os.path.join(readme.WORKSPACE, name, "src")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "main.rs"), "w") as f:
            f.write(source)
        with open(os.path.join(readme.WORKSPACE, name, "Cargo.toml"), "w") as f:
            f.write(cargo.format(name=name))

    def members(self, names):
        listed = ", ".join(f'"{n}"' for n in names)
        with open(os.path.join(readme.WORKSPACE, "Cargo.toml"), "w") as f:
            f.write(f'[workspace]\nresolver = "2"\nmembers = [{listed}]\n')

    def write_readme(self, text):
        with open(readme.README, "w") as f:
            f.write(text)

    def read_readme(self):
        with open(readme.README) as f:
            return f.read()

    def run_script(self, *args):
        out, err = io.StringIO(), io.StringIO()
        argv = sys.argv
        sys.argv = ["readme.py", *args]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = readme.main()
        finally:
            sys.argv = argv
        return code, out.getvalue() + err.getvalue()

    def good(self):
        return "# Title\n\n## Quick start\n\n" + block(
            "first", '[dependencies]\nseawall = "0.2"\n', MAIN
        )

    def test_a_matching_readme_passes(self):
        self.write_readme(self.good())
        code, out = self.run_script("--check")
        self.assertEqual(code, 0, out)

    def test_a_changed_line_of_code_fails_naming_the_block_and_the_file(self):
        self.write_readme(self.good().replace("Ok(())", "Ok(( ))"))
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("README.md:", out)
        self.assertIn("## Quick start", out)
        self.assertIn("tests/readme/first/src/main.rs", out)
        self.assertIn("+    Ok(( ))", out)

    def test_a_changed_dependency_line_fails(self):
        self.write_readme(self.good().replace('seawall = "0.2"', 'seawall = "0.1"'))
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("tests/readme/first/Cargo.toml [dependencies]", out)

    def test_an_unmarked_rust_block_fails(self):
        self.write_readme(self.good() + "\n## More\n\n```rust\nlet x = 1;\n```\n")
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("## More", out)
        self.assertIn("without its crate", out)

    def test_a_rust_block_with_attributes_is_still_a_rust_block(self):
        self.write_readme(self.good() + "\n```rust,ignore\nlet x = 1;\n```\n")
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("without its crate", out)

    def test_a_marker_without_its_toml_block_fails(self):
        text = self.good().replace('```toml\n[dependencies]\nseawall = "0.2"\n```\n', "")
        self.write_readme(text)
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("without its crate", out)

    def test_a_member_no_block_shows_and_a_block_of_no_member_fail(self):
        self.crate("second", MAIN)
        self.members(["first", "second"])
        self.write_readme(self.good())
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("tests/readme/second: a member no README block shows", out)

        self.members(["second"])
        self.write_readme(self.good() + block("second", '[dependencies]\nseawall = "0.2"\n', MAIN))
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("tests/readme/first is not a member", out)

    def test_one_crate_shown_twice_fails(self):
        self.write_readme(self.good() + "\n" + self.good())
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("already shown", out)

    def test_a_marker_naming_a_missing_crate_fails(self):
        self.write_readme(self.good() + block("ghost", "", ""))
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("tests/readme/ghost/src/main.rs does not exist", out)

    def test_write_fills_empty_blocks_and_then_check_passes(self):
        self.write_readme("## Quick start\n\n" + block("first", "", "") + "\nafter\n")
        code, out = self.run_script("--write")
        self.assertEqual(code, 0, out)
        self.assertEqual(self.read_readme(), "## Quick start\n\n" + block(
            "first", '[dependencies]\nseawall = "0.2"\n', MAIN
        ) + "\nafter\n")
        self.assertEqual(self.run_script("--check")[0], 0)
        # A second write changes nothing.
        before = self.read_readme()
        self.assertEqual(self.run_script("--write")[0], 0)
        self.assertEqual(self.read_readme(), before)

    def test_regions_show_only_what_they_mark_dedented(self):
        source = textwrap.dedent(
            """\
            // README: begin
            use seawall::BoxError;
            // README: end
            use std::io;

            fn main() -> Result<(), BoxError> {
                // README: begin
                let answer = 42;
                println!("{answer}");
                // README: end
                Ok(())
            }
            """
        )
        self.crate("first", source)
        self.write_readme(block("first", "", ""))
        self.assertEqual(self.run_script("--write")[0], 0)
        shown = 'use seawall::BoxError;\n\nlet answer = 42;\nprintln!("{answer}");\n'
        self.assertIn("```rust\n" + shown + "```", self.read_readme())
        self.assertEqual(self.run_script("--check")[0], 0)

    def test_an_unpaired_region_marker_fails(self):
        self.crate("first", "// README: begin\nfn main() {}\n")
        self.write_readme(self.good())
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("unpaired", out)
        self.crate("first", "// README: end\nfn main() {}\n// README: begin\n")
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("unpaired", out)

    def test_a_block_that_never_closes_fails(self):
        self.write_readme(self.good() + "\n```rust\nfn main() {}\n")
        code, out = self.run_script("--check")
        self.assertEqual(code, 1)
        self.assertIn("never closes", out)

    def test_members_lists_what_runs(self):
        self.crate("second", MAIN, cargo=CARGO.replace("run = true", "run = false"))
        self.members(["first", "second"])
        code, out = self.run_script("--members")
        self.assertEqual(code, 0)
        self.assertEqual(out, "first run\nsecond build\n")

    def test_trailing_comments_belong_to_the_next_section(self):
        self.write_readme(self.good())
        self.assertNotIn("needs nothing", self.run_script("--write")[1])
        self.assertNotIn("# needs nothing else", self.read_readme())


if __name__ == "__main__":
    unittest.main()
