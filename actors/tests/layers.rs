//! The import floor of `actors/src`: every top-level module sits in one
//! layer (the `# Layers` section of the crate docs), and may import only
//! modules of its own layer or below, with no cycle among top-level
//! modules. Reads the sources; `.ci/run` runs it first, so a knot is
//! named (file, line, path) before any other test runs.
//!
//! What counts as an import: a `crate::<module>` path (or a `super::` path
//! that climbs to the crate root) outside comments and outside the unit
//! tests (`tests.rs` files and an inline `#[cfg(test)] mod tests`), the
//! same reading as `shared/tools/layering.py`. Inside one top-level module
//! (`graph/job.rs` using `super::plan`) anything goes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level modules of `actors/src`, one layer per entry, bottom first.
/// Keep in step with the `# Layers` section of `actors/src/lib.rs`.
const LAYERS: &[&[&str]] = &[
    // Names and hooks that import nothing.
    &["pattern", "task_key", "priority", "action", "panic_hook"],
    // The vocabulary of runs.
    &["run", "error", "output", "trace"],
    // Small services over the vocabulary.
    &["duration", "env", "shutdown", "events", "metrics"],
    // Per-run and per-actor parts.
    &["breaker", "lines", "risk", "slot"],
    // What runs, and how a process runs.
    &["command", "task", "process"],
    // Durable state; the supervision tree.
    &["store", "supervisor"],
    // The run registry; injected faults.
    &["registry", "fault"],
    // Services over the registry; the pattern actors' message trait.
    &["halt", "stream", "message", "queues"],
    // Runtime-wide state.
    &["context"],
    // Execution of one run; the application's own actors.
    &["runner", "user"],
    // The pattern actors and the requests that pick them.
    &[
        "executor",
        "launcher",
        "scheduler",
        "pool",
        "graph",
        "batch",
        "request",
        "service",
    ],
    // Wires the tree.
    &["runtime"],
];

/// One import of a top-level module by a file of another.
#[derive(Debug)]
struct Import {
    file: PathBuf,
    line: usize,
    text: String,
    from: String,
    to: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted (for a stable report).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module of `rel` (`graph/job.rs` -> `graph`), `None` for
/// the crate root and for unit-test files.
fn top_module(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let name = parts.last()?;
    if parts.len() == 1 && name == "lib.rs" {
        return None;
    }
    if name == "tests.rs" || parts[..parts.len() - 1].iter().any(|p| p == "tests") {
        return None;
    }
    Some(parts[0].trim_end_matches(".rs").to_string())
}

/// The source before an inline `#[cfg(test)] mod tests {` (unit tests may
/// reach anywhere).
fn without_unit_tests(src: &str) -> &str {
    let mut from = 0;
    while let Some(at) = src[from..].find("#[cfg(test)]") {
        let start = from + at;
        let rest = src[start + "#[cfg(test)]".len()..].trim_start();
        if let Some(rest) = rest.strip_prefix("mod tests")
            && rest.trim_start().starts_with('{')
        {
            return &src[..start];
        }
        from = start + 1;
    }
    src
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a line names through the crate root: `crate::x`,
/// `crate::{x, y::z}`, and `super::`s that climb out of `depth` module
/// levels to the root.
fn named_modules(line: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut roots: Vec<&str> = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        // `taskorch_actors::` or `my_crate::` are not `crate::`.
        let before = rest[..at].chars().last();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            roots.push(&rest[at + "crate::".len()..]);
        }
        rest = &rest[at + "crate::".len()..];
    }
    let supers = "super::".repeat(depth);
    let mut rest = line;
    while let Some(at) = rest.find(&supers) {
        let before = rest[..at].chars().last();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            roots.push(&rest[at + supers.len()..]);
        }
        rest = &rest[at + supers.len()..];
    }
    for root in roots {
        if let Some(group) = root.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    found.push(name.to_string());
                }
            }
        } else {
            let name = ident(root);
            if !name.is_empty() {
                found.push(name.to_string());
            }
        }
    }
    found
}

/// Every import of one top-level module by a file of another.
fn imports(src_dir: &Path, modules: &BTreeSet<String>) -> Vec<Import> {
    let mut files = Vec::new();
    rust_files(src_dir, &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src_dir).expect("under src").to_path_buf();
        let Some(from) = top_module(&rel) else {
            continue;
        };
        let depth = rel.components().count();
        let text =
            fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", rel.display()));
        for (i, line) in without_unit_tests(&text).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for to in named_modules(line, depth) {
                if to != from && modules.contains(&to) {
                    found.push(Import {
                        file: rel.clone(),
                        line: i + 1,
                        text: line.trim().to_string(),
                        from: from.clone(),
                        to,
                    });
                }
            }
        }
    }
    found
}

/// The top-level modules that exist: `x.rs` and `x/` under `src`.
fn existing_modules(src_dir: &Path) -> BTreeSet<String> {
    fs::read_dir(src_dir)
        .expect("read src")
        .map(|entry| entry.expect("directory entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            if path.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs")
                    .filter(|m| *m != "lib")
                    .map(str::to_string)
            }
        })
        .collect()
}

/// A cycle among the top-level modules, if any (depth-first search).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn every_top_level_module_imports_only_its_layer_and_below_without_a_cycle() {
    let src = src_dir();
    let mut layer_of = BTreeMap::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            assert!(
                layer_of.insert(module.to_string(), i).is_none(),
                "{module} is listed in two layers"
            );
        }
    }
    let existing = existing_modules(&src);
    let unlisted: Vec<&String> = existing
        .iter()
        .filter(|m| !layer_of.contains_key(*m))
        .collect();
    assert!(
        unlisted.is_empty(),
        "top-level modules of actors/src in no layer: {unlisted:?}; add each to LAYERS in \
         actors/tests/layers.rs and to `# Layers` in actors/src/lib.rs"
    );
    let gone: Vec<&String> = layer_of.keys().filter(|m| !existing.contains(*m)).collect();
    assert!(
        gone.is_empty(),
        "LAYERS lists modules that do not exist: {gone:?}"
    );

    let found = imports(&src, &existing);
    let upward: Vec<String> = found
        .iter()
        .filter(|i| layer_of[&i.to] > layer_of[&i.from])
        .map(|i| {
            format!(
                "actors/src/{}:{}: {} (layer {}) imports {} (layer {}): {}",
                i.file.display(),
                i.line,
                i.from,
                layer_of[&i.from] + 1,
                i.to,
                layer_of[&i.to] + 1,
                i.text
            )
        })
        .collect();
    assert!(
        upward.is_empty(),
        "imports of a higher layer (move the item down, or pass what it needs in):\n{}",
        upward.join("\n")
    );

    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for import in &found {
        edges
            .entry(import.from.clone())
            .or_default()
            .insert(import.to.clone());
    }
    if let Some(cycle) = find_cycle(&edges) {
        let sites: Vec<String> = cycle
            .windows(2)
            .filter_map(|pair| {
                found
                    .iter()
                    .find(|i| i.from == pair[0] && i.to == pair[1])
                    .map(|i| format!("actors/src/{}:{}: {}", i.file.display(), i.line, i.text))
            })
            .collect();
        panic!(
            "a cycle among top-level modules of one layer: {}\n{}",
            cycle.join(" -> "),
            sites.join("\n")
        );
    }
}

/// The reading itself: the kinds of path that count, and those that do not.
#[test]
fn the_reader_finds_crate_paths_and_skips_what_is_not_an_import() {
    assert_eq!(named_modules("use crate::graph::TaskKey;", 1), ["graph"]);
    assert_eq!(
        named_modules("use crate::{error::Error, run::RunId};", 1),
        ["error", "run"]
    );
    assert_eq!(named_modules("use super::batch::BATCH;", 1), ["batch"]);
    assert!(named_modules("use super::plan::Plan;", 2).is_empty());
    assert_eq!(named_modules("use super::super::store::Op;", 2), ["store"]);
    assert!(named_modules("use taskorch_actors::graph::TaskKey;", 1).is_empty());
    assert_eq!(
        without_unit_tests("a\n#[cfg(test)]\nmod tests {\n crate::x\n}\n"),
        "a\n"
    );
    assert_eq!(
        without_unit_tests("#[cfg(test)]\nmod tests;\nb"),
        "#[cfg(test)]\nmod tests;\nb"
    );
    assert_eq!(
        top_module(Path::new("graph/job.rs")).as_deref(),
        Some("graph")
    );
    assert_eq!(top_module(Path::new("graph/tests.rs")), None);
    assert_eq!(top_module(Path::new("lib.rs")), None);
    let knot: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(
        find_cycle(&knot),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}
