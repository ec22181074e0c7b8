//! The files of `src/` depend on each other without cycles.
//!
//! A cycle between files (a layer naming `observe`'s event type while `observe` names the
//! layer's types back) means neither file can be read, moved or feature-gated on its own.
//! This test reads every file under `src/`, blanks comments and literals, collects the paths
//! each file uses (`use` trees and inline `crate::` / `super::` / `self::` paths), resolves each
//! path to the file that *defines* the item, and fails on every strongly connected component of
//! more than one file, printing the paths that make each edge.
//!
//! Re-exports are followed, so `crate::BoxError` (re-exported by `lib.rs`) or
//! `crate::retry::RetryConfig` (re-exported by `retry/mod.rs`) lead to the defining file. A
//! re-export (`pub use`, `pub(crate) use`) is the module's surface, not a use: it makes an edge
//! only when the file's own code also names what it re-exports. `mod x;` declarations are not
//! edges, and neither is a file's use of itself.
//!
//! It is a small scanner, not a Rust parser (std only): the `scanner` tests at the bottom pin
//! down what it understands. Paths that start with an external crate, or with a name an earlier
//! `use` brought in (`observe::emit` after `use crate::observe`), are not followed on their own;
//! their `use` made the edge.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

/// How many re-exports a path may pass through before resolution stops where it is.
const MAX_HOPS: usize = 16;

#[test]
fn src_has_no_module_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    read_rust_files(&src, "", &mut sources);
    let graph = Graph::build(&sources);
    assert!(
        !graph.edges.is_empty(),
        "the scanner found no edge in {src:?}"
    );
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "module dependency cycles in src/ (each edge lists the paths that make it):\n{}",
        graph.report(&cycles)
    );
}

/// Every `.rs` file under `dir` as (path relative to `src/` with `/` separators, text), sorted.
fn read_rust_files(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).expect("src/ is readable");
    let mut paths: Vec<_> = entries
        .map(|entry| entry.expect("an entry").path())
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            read_rust_files(&path, &format!("{prefix}{name}/"), out);
        } else if name.ends_with(".rs") {
            let text = std::fs::read_to_string(&path).expect("a source file is UTF-8");
            out.push((format!("{prefix}{name}"), text));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Blanking comments and literals (over bytes: everything that matters to the scan is ASCII)

/// Bytes of words; non-ASCII bytes only occur in identifiers once comments and literals are gone.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii()
}

/// Whether a word token is an identifier (not a number).
fn is_ident(word: &str) -> bool {
    word.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// `src` with comments (doc comments too) and string, byte-string, raw-string and char literals
/// replaced by spaces. Newlines are kept, so line numbers stay right; lifetimes are kept.
fn strip(src: &str) -> String {
    let s = src.as_bytes();
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let word_end = i + s[i..].iter().take_while(|&&b| is_word_byte(b)).count();
        let blank_until = match s[i] {
            b'/' if at(i + 1) == b'/' => Some(
                s[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(s.len(), |n| i + n),
            ),
            b'/' if at(i + 1) == b'*' => Some(block_comment_end(s, i)),
            b'"' => Some(quoted_end(s, i + 1, b'"')),
            b'\'' if at(i + 1) == b'\\' => Some(quoted_end(s, i + 1, b'\'')),
            b'\'' => {
                let width = utf8_width(at(i + 1)); // `'x'` or a lifetime `'a`
                (at(i + 1 + width) == b'\'').then_some(i + 2 + width)
            }
            _ => prefixed_end(s, i, word_end),
        };
        match blank_until {
            Some(end) => {
                out.extend(s[i..end].iter().map(|&b| if b == b'\n' { b } else { b' ' }));
                i = end;
            }
            None => {
                let end = word_end.max(i + 1);
                out.extend_from_slice(&s[i..end]);
                i = end;
            }
        }
    }
    String::from_utf8(out).expect("blanking whole literals and comments keeps UTF-8")
}

fn utf8_width(first: u8) -> usize {
    match first {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

/// The end (exclusive) of a block comment starting at `i`; block comments nest.
fn block_comment_end(s: &[u8], i: usize) -> usize {
    let (mut depth, mut k) = (0, i);
    while k + 1 < s.len() {
        match (s[k], s[k + 1]) {
            (b'/', b'*') => (depth, k) = (depth + 1, k + 2),
            (b'*', b'/') => (depth, k) = (depth - 1, k + 2),
            _ => k += 1,
        }
        if depth == 0 {
            return k;
        }
    }
    s.len()
}

/// The end (exclusive) of a quoted literal whose body starts at `k`, honouring `\` escapes.
fn quoted_end(s: &[u8], mut k: usize, quote: u8) -> usize {
    while k < s.len() {
        match s[k] {
            b'\\' => k += 2,
            b if b == quote => return k + 1,
            _ => k += 1,
        }
    }
    s.len()
}

/// The end of a literal with a prefix (`b"."`, `b'.'`, `c"."`, `r#"."#`, `br"."`) whose prefix
/// is the word `s[i..j]`, or `None` when the word is just a word.
fn prefixed_end(s: &[u8], i: usize, j: usize) -> Option<usize> {
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    match &s[i..j] {
        b"r" | b"br" | b"cr" => {
            let hashes = s[j..].iter().take_while(|&&b| b == b'#').count();
            if at(j + hashes) != b'"' {
                return None; // a raw identifier such as `r#type`
            }
            let closes = |k: &usize| s[*k] == b'"' && (1..=hashes).all(|h| at(k + h) == b'#');
            let end = (j + hashes + 1..s.len()).find(closes);
            Some(end.map_or(s.len(), |k| k + 1 + hashes))
        }
        b"b" | b"c" if at(j) == b'"' => Some(quoted_end(s, j + 1, b'"')),
        b"b" if at(j) == b'\'' => Some(quoted_end(s, j + 1, b'\'')),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Scanning one file

struct Token<'a> {
    text: &'a str,
    line: usize,
}

/// Words, `::`, and single characters otherwise, of code already stripped.
fn tokenize(code: &str) -> Vec<Token<'_>> {
    let s = code.as_bytes();
    let (mut tokens, mut line, mut i) = (Vec::new(), 1, 0);
    while i < s.len() {
        let len = match s[i] {
            b if b.is_ascii_whitespace() => 0,
            b if is_word_byte(b) => s[i..].iter().take_while(|&&b| is_word_byte(b)).count(),
            b':' if s.get(i + 1) == Some(&b':') => 2,
            _ => 1,
        };
        if len > 0 {
            tokens.push(Token {
                text: &code[i..i + len],
                line,
            });
        }
        line += usize::from(s[i] == b'\n');
        i += len.max(1);
    }
    tokens
}

/// What one file defines, imports and uses.
#[derive(Default)]
struct Scan {
    /// Names of the items at the file's top level (including `mod` names).
    defined: HashSet<String>,
    /// The file's top-level `use` declarations.
    imports: Vec<Import>,
    /// Every crate-internal path the file uses, from `use` trees and inline paths.
    uses: Vec<PathUse>,
}

struct Import {
    /// The name the import binds; `None` for a glob.
    name: Option<String>,
    /// Where it points, from the crate root; `None` outside the crate (`std::...`, `tower::...`).
    target: Option<Vec<String>>,
}

struct PathUse {
    /// From the crate root: `crate::a::B` anywhere and `super::B` in `src/a/c.rs` are `[a, B]`.
    path: Vec<String>,
    /// The path as written, with its line: `super::B (line 3)`.
    text: String,
}

/// The module path of a file relative to `src/`: `lib.rs` is `[]`, `a.rs` and `a/mod.rs` are
/// `[a]`, `a/b.rs` is `[a, b]`.
fn module_of(file: &str) -> Vec<String> {
    let mut module: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if module.last().is_some_and(|m| m == "mod") || module == ["lib"] {
        module.pop();
    }
    module
}

/// `segments` (as written, starting with `crate`, `self` or `super`) from the crate root, seen
/// from module `here`; `None` for a path outside the crate.
fn absolute(segments: &[String], here: &[String]) -> Option<Vec<String>> {
    if !matches!(segments.first()?.as_str(), "crate" | "self" | "super") {
        return None;
    }
    let mut path = here.to_vec();
    for (k, segment) in segments.iter().enumerate() {
        match segment.as_str() {
            "crate" if k == 0 => path.clear(),
            "self" => {}
            "super" => {
                path.pop();
            }
            name => path.push(name.to_string()),
        }
    }
    Some(path)
}

/// A `use` tree's leaf: (segments, `as` name, line); a glob's last segment is `*`.
type UseLeaf = (Vec<String>, Option<String>, usize);

/// Parses the `use` tree at token `i` under `prefix`; returns the index after it.
fn use_tree(
    tokens: &[Token<'_>],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<UseLeaf>,
) -> usize {
    let text = |k: usize| tokens.get(k).map_or("", |t| t.text);
    loop {
        let line = tokens.get(i).map_or(0, |t| t.line);
        match text(i) {
            "::" => i += 1,
            "*" => {
                prefix.push("*".into());
                out.push((prefix, None, line));
                return i + 1;
            }
            "{" => {
                i += 1;
                while !matches!(text(i), "}" | "") {
                    let next = use_tree(tokens, i, prefix.clone(), out).max(i + 1);
                    i = next + usize::from(text(next) == ",");
                }
                return i + 1;
            }
            word if is_ident(word) => {
                prefix.push(word.to_string());
                i += 1;
                if text(i) != "::" {
                    let alias = (text(i) == "as").then(|| text(i + 1).to_string());
                    let next = if alias.is_some() { i + 2 } else { i };
                    out.push((prefix, alias, line));
                    return next;
                }
            }
            _ => return i, // not a use tree (`impl Trait + use<'a>`)
        }
    }
}

/// Scans the file of module `module`. Inline `mod x { ... }` blocks are tracked, so `super`
/// inside them resolves from the inline module.
fn scan(source: &str, module: &[String]) -> Scan {
    let code = strip(source);
    let tokens = tokenize(&code);
    let text = |k: usize| tokens.get(k).map_or("", |t| t.text);
    let mut scan = Scan::default();
    let mut depth = 0usize;
    // The inline modules we are in: their name and the brace depth of their body.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let here = |inline: &[(String, usize)]| -> Vec<String> {
        module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(name, _)| name.clone()))
            .collect()
    };
    // Re-exported leaves by the name they bind, and the words named outside `use` trees.
    let mut re_exports: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut named: HashSet<&str> = HashSet::new();
    let mut i = 0;
    while i < tokens.len() {
        let top = inline.is_empty() && depth == 0;
        match text(i) {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|&(_, body)| depth < body) {
                    inline.pop();
                }
            }
            "mod" if text(i + 2) == "{" => {
                if top {
                    scan.defined.insert(text(i + 1).to_string());
                }
                depth += 1;
                inline.push((text(i + 1).to_string(), depth));
                i += 2;
            }
            "use" => {
                let re_export = matches!(text(i.wrapping_sub(1)), "pub" | ")"); // `pub(crate) use`
                let mut leaves = Vec::new();
                i = use_tree(&tokens, i + 1, Vec::new(), &mut leaves) - 1;
                for (mut segments, alias, line) in leaves {
                    let glob = segments.last().is_some_and(|s| s == "*");
                    segments.retain(|s| s != "*");
                    if segments.len() > 1 && segments.last().is_some_and(|s| s == "self") {
                        segments.pop(); // `a::{self}` imports `a`
                    }
                    let glob_suffix = if glob { "::*" } else { "" };
                    let written = format!("{}{glob_suffix} (line {line}", segments.join("::"));
                    let target = absolute(&segments, &here(&inline));
                    let name = if glob {
                        None
                    } else {
                        alias.or_else(|| segments.last().cloned())
                    };
                    match (&target, &name) {
                        (Some(path), Some(name)) if re_export => {
                            re_exports.push((name.clone(), path.clone(), written));
                        }
                        (Some(path), _) => {
                            scan.uses.push(PathUse {
                                path: path.clone(),
                                text: written + ")",
                            });
                        }
                        (None, _) => {}
                    }
                    if top {
                        scan.imports.push(Import { name, target });
                    }
                }
            }
            "crate" | "super" | "self"
                if text(i + 1) == "::" && text(i.wrapping_sub(1)) != "::" =>
            {
                let line = tokens[i].line;
                let mut segments = vec![text(i).to_string()];
                while text(i + 1) == "::" && is_ident(text(i + 2)) {
                    segments.push(text(i + 2).to_string());
                    i += 2;
                }
                let path = absolute(&segments, &here(&inline)).expect("crate, self or super");
                scan.uses.push(PathUse {
                    path,
                    text: format!("{} (line {line})", segments.join("::")),
                });
            }
            "struct" | "enum" | "union" | "trait" | "type" | "fn" | "const" | "static" | "mod"
                if top && text(i.wrapping_sub(1)) != "'" =>
            {
                scan.defined.insert(text(i + 1).to_string());
            }
            "macro_rules" if top && text(i + 1) == "!" => {
                scan.defined.insert(text(i + 2).to_string());
            }
            word => {
                named.insert(word);
            }
        }
        i += 1;
    }
    for (name, path, written) in re_exports {
        if named.contains(name.as_str()) {
            scan.uses.push(PathUse {
                path,
                text: written + ", re-exported and named here)",
            });
        }
    }
    scan
}

// ---------------------------------------------------------------------------------------------
// The graph

#[derive(Default)]
struct Graph {
    /// File paths relative to `src/`.
    files: Vec<String>,
    scans: Vec<Scan>,
    by_module: HashMap<Vec<String>, usize>,
    /// (from, to) -> the paths in `from` that resolve into `to`.
    edges: BTreeMap<(usize, usize), BTreeSet<String>>,
}

impl Graph {
    /// `sources`: (path relative to `src/`, text); one of them must be `lib.rs`.
    fn build(sources: &[(String, String)]) -> Graph {
        let mut graph = Graph::default();
        for (k, (file, text)) in sources.iter().enumerate() {
            graph.files.push(file.clone());
            graph.scans.push(scan(text, &module_of(file)));
            graph.by_module.insert(module_of(file), k);
        }
        for from in 0..graph.files.len() {
            for used in &graph.scans[from].uses {
                let (to, _) = graph.resolve(&used.path, 0);
                if to != from {
                    let paths = graph.edges.entry((from, to)).or_default();
                    paths.insert(used.text.clone());
                }
            }
        }
        graph
    }

    /// The file that defines what `path` (from the crate root) names, and whether a definition
    /// (or a re-export of something outside the crate) was found there. Walks to the deepest
    /// file along the path, then follows that file's imports of the next name.
    fn resolve(&self, path: &[String], hops: usize) -> (usize, bool) {
        let deepest = (0..=path.len())
            .rev()
            .find(|&k| self.by_module.contains_key(&path[..k]));
        let deepest = deepest.expect("the crate root file, lib.rs, exists");
        let file = self.by_module[&path[..deepest]];
        let scan = &self.scans[file];
        let Some(name) = path.get(deepest) else {
            return (file, true);
        };
        if scan.defined.contains(name) || hops == MAX_HOPS {
            return (file, scan.defined.contains(name));
        }
        let rest = &path[deepest + 1..];
        let import = scan
            .imports
            .iter()
            .find(|import| import.name.as_ref() == Some(name));
        if let Some(import) = import {
            return match &import.target {
                Some(target) => self.resolve(&[target, rest].concat(), hops + 1),
                None => (file, true),
            };
        }
        let globs = scan.imports.iter().filter(|import| import.name.is_none());
        for target in globs.filter_map(|import| import.target.as_ref()) {
            let found = self.resolve(&[target, &path[deepest..]].concat(), hops + 1);
            if found.1 {
                return found;
            }
        }
        (file, false)
    }

    /// The files each file reaches through one or more edges.
    fn reachable(&self) -> Vec<Vec<bool>> {
        let n = self.files.len();
        let mut successors = vec![Vec::new(); n];
        for &(from, to) in self.edges.keys() {
            successors[from].push(to);
        }
        let reach_from = |start: usize| {
            let (mut reached, mut stack) = (vec![false; n], vec![start]);
            while let Some(v) = stack.pop() {
                for &w in &successors[v] {
                    if !std::mem::replace(&mut reached[w], true) {
                        stack.push(w);
                    }
                }
            }
            reached
        };
        (0..n).map(reach_from).collect()
    }

    /// The strongly connected components of more than one file: files that reach each other.
    /// (Mutual reachability, one search per file: a few hundred edges take microseconds.)
    fn cycles(&self) -> Vec<Vec<usize>> {
        let reach = self.reachable();
        let mut components: Vec<Vec<usize>> = Vec::new();
        for (v, from_v) in reach.iter().enumerate() {
            let component: Vec<usize> = (0..reach.len())
                .filter(|&w| from_v[w] && reach[w][v])
                .collect();
            if component.len() > 1 && !components.iter().any(|c| c.contains(&v)) {
                components.push(component);
            }
        }
        components
    }

    /// Each component with the edges inside it and the paths that make them.
    fn report(&self, cycles: &[Vec<usize>]) -> String {
        let mut out = String::new();
        for (number, component) in cycles.iter().enumerate() {
            let files: Vec<_> = component
                .iter()
                .map(|&f| format!("src/{}", self.files[f]))
                .collect();
            let (count, files) = (files.len(), files.join(", "));
            out += &format!("cycle {} ({count} files): {files}\n", number + 1);
            for ((from, to), paths) in &self.edges {
                if component.contains(from) && component.contains(to) {
                    let paths = paths.iter().cloned().collect::<Vec<_>>().join(", ");
                    let (from, to) = (&self.files[*from], &self.files[*to]);
                    out += &format!("  src/{from} -> src/{to}: {paths}\n");
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The scanner's own tests

mod scanner {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> Graph {
        let sources: Vec<_> = files
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect();
        Graph::build(&sources)
    }

    /// The edges as `from -> to`.
    fn edges(graph: &Graph) -> Vec<String> {
        let name = |f: usize| graph.files[f].as_str();
        graph
            .edges
            .keys()
            .map(|&(from, to)| format!("{} -> {}", name(from), name(to)))
            .collect()
    }

    fn paths(scan: &Scan) -> Vec<String> {
        scan.uses.iter().map(|used| used.path.join("::")).collect()
    }

    #[test]
    fn comments_and_literals_are_blanked() {
        let source = r####"
/// [`A`](crate::doc::A) and //! inner docs
//! crate::inner::Doc
/* crate::block /* crate::nested */ crate::still_comment */ use crate::kept::K;
let a = "crate::string \" crate::escaped";
let b = r#"crate::raw " crate::still_raw"#;
let c = br##"crate::raw_bytes"##; let d = b"crate::bytes"; let e = '"'; let f = '\'';
let r#type = ('é', b'"', "crate::after_unicode");
fn g<'a>(x: &'a str) -> crate::after::Literals { crate::last::L }
"####;
        let stripped = strip(source);
        assert_eq!(
            stripped.lines().count(),
            source.lines().count(),
            "newlines are kept"
        );
        assert!(
            stripped.contains("fn g<'a>(x: &'a str)"),
            "lifetimes are code: {stripped}"
        );
        let found = paths(&scan(source, &[]));
        assert_eq!(found, ["kept::K", "after::Literals", "last::L"]);
        assert_eq!(scan(source, &[]).uses[2].text, "crate::last::L (line 9)");
    }

    #[test]
    fn nested_use_trees() {
        let source = "use crate::a::{b::{C, D as E}, self, f::*};\nuse std::sync::Arc;\n\
                      use self::g::{self as h};";
        let scan = scan(source, &["m".to_string()]);
        assert_eq!(paths(&scan), ["a::b::C", "a::b::D", "a", "a::f", "m::g"]);
        let names: Vec<_> = scan
            .imports
            .iter()
            .map(|i| i.name.as_deref().unwrap_or("*"))
            .collect();
        assert_eq!(names, ["C", "E", "a", "*", "Arc", "h"]);
        assert!(scan.imports[4].target.is_none(), "std is outside the crate");
    }

    #[test]
    fn super_from_mod_rs_a_leaf_and_an_inline_module() {
        let from_mod_rs = scan("use super::x::Y;", &module_of("a/mod.rs"));
        assert_eq!(paths(&from_mod_rs), ["x::Y"]);
        let from_leaf = scan(
            "fn f() -> super::Z { super::super::top() }",
            &module_of("a/b.rs"),
        );
        assert_eq!(paths(&from_leaf), ["a::Z", "top"]);
        let inline = "mod tests { use super::*; fn t() { super::super::Q; } }\nuse super::R;";
        let from_inline = scan(inline, &module_of("a/b.rs"));
        assert_eq!(paths(&from_inline), ["a::b", "a::Q", "a::R"]);
        assert!(module_of("lib.rs").is_empty());
    }

    #[test]
    fn re_exports_lead_to_the_defining_file_and_are_no_edge_themselves() {
        let g = graph(&[
            (
                "lib.rs",
                "pub mod a; pub mod b; mod error; pub use crate::error::{BoxError, Kind};",
            ),
            ("error.rs", "pub type BoxError = (); pub enum Kind { A }"),
            (
                "a/mod.rs",
                "mod config; mod layer; pub use self::config::Config;\n\
                          pub(crate) use self::layer::Layer; pub struct Service(Config);",
            ),
            ("a/config.rs", "pub struct Config;"),
            ("a/layer.rs", "pub struct Layer(super::Service);"),
            (
                "b.rs",
                "use crate::BoxError; use crate::a::Config; fn f() { crate::Kind::A; }",
            ),
        ]);
        let expected = [
            "a/mod.rs -> a/config.rs", // `Service(Config)` names it; `Layer` is only re-exported
            "a/layer.rs -> a/mod.rs",
            "b.rs -> error.rs",
            "b.rs -> a/config.rs",
        ];
        assert_eq!(edges(&g), expected);
        let why = g.edges[&(2, 3)].iter().next().unwrap();
        assert_eq!(
            why,
            "self::config::Config (line 1, re-exported and named here)"
        );
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn a_two_file_cycle_is_found_and_a_chain_is_not() {
        let chain = graph(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use crate::b::B; pub struct A;"),
            ("b.rs", "pub struct B(crate::c::C);"),
            ("c.rs", "/// Not an edge: [`A`](crate::a::A)\npub struct C;"),
        ]);
        assert_eq!(edges(&chain), ["a.rs -> b.rs", "b.rs -> c.rs"]);
        assert!(chain.cycles().is_empty());

        let cycle = graph(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use crate::b::B; pub struct A;"),
            ("b.rs", "pub struct B(super::a::A, crate::c::C);"),
            ("c.rs", "pub struct C;"),
        ]);
        let cycles = cycle.cycles();
        assert_eq!(cycles, [[1, 2]]);
        let report = cycle.report(&cycles);
        let expected = "cycle 1 (2 files): src/a.rs, src/b.rs\n\
                        \x20 src/a.rs -> src/b.rs: crate::b::B (line 1)\n\
                        \x20 src/b.rs -> src/a.rs: super::a::A (line 1)\n";
        assert_eq!(report, expected);
    }
}
