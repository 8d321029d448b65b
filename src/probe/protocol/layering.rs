//! Guards the layering of this directory: no import cycle between its files. An edge
//! runs from a file to each sibling it names through `super::` (or `super::super::`
//! from a child test file), and from `mod.rs` to each child it calls into; a name that
//! is not a sibling module is an item of `mod.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file of the directory and of its child directories, by module name
/// ("mysql", "mysql/tests", "mod").
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/probe/protocol");
    let mut sources = BTreeMap::new();
    let mut read_dir = |dir: &Path, prefix: &str| {
        for entry in std::fs::read_dir(dir).expect("protocol directory") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                let stem = path.file_stem().expect("stem").to_string_lossy();
                let text = std::fs::read_to_string(&path).expect("source");
                sources.insert(format!("{prefix}{stem}"), text);
            }
        }
    };
    read_dir(&root, "");
    for entry in std::fs::read_dir(&root).expect("protocol directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            read_dir(&path, &format!("{name}/"));
        }
    }
    sources
}

/// The names a path list names: "super::{a, b::C}" -> ["a", "b"].
fn first_segments(list: &str) -> Vec<String> {
    list.trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .map(|item| item.trim().split("::").next().unwrap_or("").to_owned())
        .map(|name| name.split_whitespace().next().unwrap_or("").to_owned())
        .filter(|name| !name.is_empty() && name != "self" && name != "*" && name != "super")
        .collect()
}

fn edges(sources: &BTreeMap<String, String>) -> BTreeSet<(String, String)> {
    let siblings: BTreeSet<&str> = sources
        .keys()
        .filter(|name| !name.contains('/') && *name != "mod" && *name != "layering")
        .map(String::as_str)
        .collect();
    let mut edges = BTreeSet::new();
    for (name, text) in sources {
        if name == "layering" {
            continue;
        }
        let code: String = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let parent = name.split('/').next().unwrap_or(name);
        let mut rest = code.as_str();
        while let Some(at) = rest.find("super::") {
            let before_ok = rest[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let mut path = &rest[at + "super::".len()..];
            let mut ups = 1;
            while let Some(deeper) = path.strip_prefix("super::") {
                path = deeper;
                ups += 1;
            }
            rest = path;
            if !before_ok {
                continue;
            }
            let end = if path.starts_with('{') {
                path.find('}').map_or(path.len(), |end| end + 1)
            } else {
                path.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '*'))
                    .unwrap_or(path.len())
            };
            for target in first_segments(&path[..end]) {
                // From a child test file one `super` is its parent check.
                let to = if name.contains('/') && ups == 1 {
                    parent.to_owned()
                } else if siblings.contains(target.as_str()) {
                    target
                } else {
                    "mod".to_owned()
                };
                if &to != name {
                    edges.insert((name.clone(), to));
                }
            }
        }
        if name == "mod" {
            for sibling in &siblings {
                if code.contains(&format!(" {sibling}::"))
                    || code.contains(&format!("({sibling}::"))
                {
                    edges.insert((name.clone(), (*sibling).to_owned()));
                }
            }
        }
    }
    edges
}

/// A cycle through `start`, if there is one.
fn cycle_from(
    start: &str,
    node: &str,
    graph: &BTreeMap<&str, Vec<&str>>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in graph.get(node).into_iter().flatten() {
        if *next == start {
            let mut cycle = path.clone();
            cycle.push(start.to_owned());
            return Some(cycle);
        }
        if !path.iter().any(|seen| seen == next) {
            path.push((*next).to_owned());
            if let Some(cycle) = cycle_from(start, next, graph, path) {
                return Some(cycle);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn no_file_of_the_protocol_checks_imports_one_that_imports_it_back() {
    let sources = sources();
    let edges = edges(&sources);
    // The graph is real: mod.rs dispatches to the checks, and they use helpers.
    for expected in [("mod", "mysql"), ("mysql", "describe"), ("http", "tls")] {
        let expected = (expected.0.to_owned(), expected.1.to_owned());
        assert!(edges.contains(&expected), "missing edge {expected:?}");
    }
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in &edges {
        graph.entry(from).or_default().push(to);
    }
    for start in graph.keys() {
        let cycle = cycle_from(start, start, &graph, &mut vec![(*start).to_owned()]);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap_or_default().join(" -> ")
        );
    }
}
