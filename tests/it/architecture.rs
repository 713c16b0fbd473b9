//! The shape of src/: no import circles between modules, and no module importing from a
//! folder above it (a sink from the sink dispatcher, anything from the crate root). Read
//! from the source, so a change that bends the architecture fails here, with the edge named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of src/ (by path, `sinks::config`; the crate root is ""), with the modules
/// its non-test code refers to.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect(src, &mut files);
    let sources: BTreeMap<String, String> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "main.rs"))
        .map(|f| (module_of(src, f), std::fs::read_to_string(f).unwrap()))
        .collect();
    let known: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(module, text)| {
            // Unit tests may reach anywhere; the architecture is the code that ships. Comments
            // name modules without importing them.
            let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String = shipped
                .lines()
                .map(|line| line.split("//").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            let targets = references(module, &code)
                .into_iter()
                .filter_map(|path| resolve(&known, &path))
                .filter(|target| target != module)
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `src/sinks/config.rs` -> `sinks::config`; `src/sinks/mod.rs` -> `sinks`; lib.rs -> "".
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// Every `crate::a::b` and `super::c` path in `code`, made absolute (`{a, b::c}` groups
/// expanded; `super::super::` climbs twice), as a list of segments.
fn references(module: &str, code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for anchor in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().last();
            rest = &rest[at + anchor.len()..];
            // `foo_crate::`, or the second `super::` of a chain.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut base = if anchor == "crate::" {
                Vec::new()
            } else {
                parent(module)
            };
            let mut path = rest;
            while let Some(up) = path.strip_prefix("super::") {
                base.pop();
                path = up;
            }
            for tail in expand(path) {
                let mut full = base.clone();
                full.extend(tail);
                found.push(full);
            }
        }
    }
    found
}

fn parent(module: &str) -> Vec<String> {
    let mut parts: Vec<String> = module.split("::").map(str::to_string).collect();
    parts.pop();
    parts.retain(|p| !p.is_empty());
    parts
}

/// The paths at the start of `text`: `a::b::C`, or a use tree such as `a::{b, c::{d, e}}`.
fn expand(text: &str) -> Vec<Vec<String>> {
    use_tree(text.trim_start()).0
}

/// One use tree: segments joined by `::`, then maybe a `{...}` of trees; and what follows.
fn use_tree(text: &str) -> (Vec<Vec<String>>, &str) {
    let mut prefix = Vec::new();
    let mut rest = text;
    loop {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[name.len()..];
        if !name.is_empty() && name != "self" {
            prefix.push(name);
        }
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => break,
        }
    }
    let Some(mut inner) = rest.strip_prefix('{') else {
        // `as alias` or the end of the path: the path is what it names.
        return (vec![prefix], rest);
    };
    let mut paths = Vec::new();
    loop {
        inner = inner.trim_start();
        if let Some(after) = inner.strip_prefix('}') {
            return (paths, after);
        }
        let (trees, after) = use_tree(inner);
        paths.extend(trees.into_iter().map(|tail| {
            let mut path = prefix.clone();
            path.extend(tail);
            path
        }));
        // Past an alias, to the next tree or the end of the group.
        let stop = after.find([',', '}']).unwrap_or(after.len());
        inner = after[stop..].strip_prefix(',').unwrap_or(&after[stop..]);
        if inner.is_empty() {
            return (paths, inner);
        }
    }
}

/// The module a path lands in: its longest prefix that is a module; the crate root if none.
fn resolve(known: &BTreeSet<String>, path: &[String]) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|candidate| known.contains(candidate))
        .or_else(|| known.contains("").then(String::new))
}

/// Groups of modules that import each other, round and round (strongly connected).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(module) = todo.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reaches(m))).collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for module in graph.keys() {
        let group: BTreeSet<String> = graph
            .keys()
            .filter(|other| {
                *other == module
                    || (reach[module].contains(*other) && reach[*other].contains(module))
            })
            .cloned()
            .collect();
        if group.len() > 1 && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

/// Imports of a module's own ancestors: a folder's modules use its `mod.rs`, or anything
/// uses the crate root.
fn upward(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    graph
        .iter()
        .flat_map(|(from, targets)| targets.iter().map(move |to| (from.clone(), to.clone())))
        .filter(|(from, to)| to.is_empty() || from.starts_with(&format!("{to}::")))
        .collect()
}

#[test]
fn no_import_circles_and_no_upward_imports() {
    // ECR_LOGIN_SRC measures another tree (an older checkout) with the same rules.
    let src = std::env::var_os("ECR_LOGIN_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let graph = import_graph(&src);
    let (circles, upward) = (circles(&graph), upward(&graph));
    eprintln!(
        "src/: {} modules, {} imports between them, {} circles, {} upward imports",
        graph.len(),
        graph.values().map(BTreeSet::len).sum::<usize>(),
        circles.len(),
        upward.len()
    );
    assert!(circles.is_empty(), "import circles: {circles:?}");
    assert!(upward.is_empty(), "upward imports (from, to): {upward:?}");
}

#[test]
fn the_check_sees_circles_and_upward_imports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("sinks")).unwrap();
    for (file, text) in [
        ("lib.rs", "mod a;\nmod b;\nmod c;\nmod sinks;\n"),
        ("c.rs", "// Not an import: crate::a\npub fn leaf() {}\n"),
        ("a.rs", "use crate::b::thing;\n"),
        (
            "b.rs",
            "use crate::{a as x, sinks::{config::X, self}};\n#[cfg(test)]\nmod tests { use crate::nothing; }\n",
        ),
        ("sinks/mod.rs", "mod config;\n"),
        (
            "sinks/config.rs",
            "use super::super::c;\nuse crate::sinks::Sink;\n",
        ),
    ] {
        std::fs::write(src.join(file), text).unwrap();
    }
    let graph = import_graph(src);
    assert_eq!(
        circles(&graph),
        [BTreeSet::from(["a".to_string(), "b".to_string()])]
    );
    assert_eq!(
        upward(&graph),
        [("sinks::config".to_string(), "sinks".to_string())]
    );
    assert!(
        graph["sinks::config"].contains("c"),
        "super::super:: climbs twice: {graph:?}"
    );
    assert!(
        graph["b"].contains("sinks::config"),
        "a {{group}} after crate:: is read: {graph:?}"
    );
    assert!(
        graph["b"].contains("sinks"),
        "self in a group names its parent: {graph:?}"
    );
    assert!(
        !graph["b"].contains(""),
        "test code is not the architecture: {graph:?}"
    );
}
