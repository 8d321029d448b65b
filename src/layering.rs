//! Test only: keeps the layering of `src/` that docs/ARCHITECTURE.md describes. Two rules,
//! read from the source text (so they hold without anyone remembering them):
//!
//! 1. **No import cycle between files.** An edge runs from a file to the file that
//!    defines what it names: a `crate::`, `super::` or `self::` path (in a `use` or inline),
//!    or a path through a child module the file declares. A name reached through a
//!    folder's `mod.rs` is followed to the one file under that folder that defines it,
//!    so a `mod.rs` that re-exports its children is a door, not a dependency; its own
//!    `pub use child::...` lines are not edges either.
//! 2. **No upward arrow between rooms.** Each top-level module ("room") has a layer in
//!    [`LAYERS`]; a file may name another room only if that room's layer is lower.
//!
//! Test code (`#[cfg(test)]` modules and the files they declare) is left out: tests may
//! reach across rooms.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each room of `src/` and its layer: a room names only rooms of a lower layer. The
/// binary (`main.rs`) is outside the library and not listed.
const LAYERS: &[(&str, u8)] = &[
    // The command line, including `dsconn agent`.
    ("cli", 8),
    // Wiring the server together, and the HTTP client the commands use.
    ("app", 7),
    ("client", 7),
    // The HTTP API and the lifecycle worker.
    ("api", 6),
    ("worker", 6),
    ("server", 5),
    // The check pipeline.
    ("check", 4),
    // Server settings (they name the store's and the checks' flags), issuing, and the
    // read cache (it follows the store's commits).
    ("config", 3),
    ("issuing", 3),
    ("read_cache", 3),
    // The checks themselves and the durable state.
    ("probe", 2),
    ("store", 2),
    // Pieces everything shares.
    ("telemetry", 1),
    ("rate_limit", 1),
    ("credentials", 1),
    ("signing", 1),
    ("domain", 0),
];

/// A module path from the crate root, e.g. ["api", "enhanced", "routes"].
type ModulePath = Vec<String>;

/// One source file of the library.
#[derive(Debug)]
struct SourceFile {
    /// Path relative to `src/`, e.g. "api/enhanced/mod.rs".
    file: String,
    module: ModulePath,
    /// Code with comments and string literals blanked out and test modules removed.
    code: String,
}

/// Comments, string and char literals replaced by spaces (line breaks kept), so that
/// neither prose nor text is read as a path.
fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || (next == Some('#') && !prev_is_ident(&chars, i)))
            && !prev_is_ident(&chars, i)
        {
            // A raw string: r"..." or r#"..."#.
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    _ => j += 1,
                }
            }
            for &skipped in &chars[i..j.min(chars.len())] {
                out.push(blank(skipped));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: '\n', '\'', '\u{..}'.
            out.push(' ');
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push_str("  ");
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The names of the modules a file declares with `mod NAME;`, split by whether a
/// `#[cfg(test)]` stands before the declaration.
fn declared_modules(code: &str) -> (Vec<String>, Vec<String>) {
    let (mut product, mut test) = (Vec::new(), Vec::new());
    let mut test_attribute = false;
    for line in code.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("#[cfg(test)]") {
            test_attribute = true;
            continue;
        }
        let rest = line
            .strip_prefix("pub(crate) ")
            .or_else(|| line.strip_prefix("pub "))
            .unwrap_or(line);
        if let Some(name) = rest.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            if test_attribute {
                test.push(name.trim().to_owned());
            } else {
                product.push(name.trim().to_owned());
            }
        }
        if !line.starts_with("#[") {
            test_attribute = false;
        }
    }
    (product, test)
}

/// The code without its inline `#[cfg(test)] mod NAME { ... }` blocks.
fn without_test_blocks(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_block = trimmed.starts_with("mod ") && {
            let head = trimmed.split(['{', ';']).next().unwrap_or("");
            trimmed.len() > head.len() && trimmed.as_bytes()[head.len()] == b'{'
        };
        if !is_block {
            out.push_str(&rest[..at + "#[cfg(test)]".len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        let block = &after[after.find('{').unwrap_or(0)..];
        let mut depth = 0usize;
        let mut end = block.len();
        for (index, c) in block.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = index + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &block[end..];
    }
    out.push_str(rest);
    out
}

/// Every library file under `src/` with its module path, test-only files left out.
fn library_sources(root: &Path) -> Vec<SourceFile> {
    fn walk(dir: &Path, root: &Path, found: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("readable src directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, root, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path
                    .strip_prefix(root)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("readable source");
                found.insert(relative, text);
            }
        }
    }
    let mut texts = BTreeMap::new();
    walk(root, root, &mut texts);
    parse_sources(&texts)
}

/// The module path of a file: "api/mod.rs" -> ["api"], "api/router.rs" -> ["api",
/// "router"], "probe/protocol/mysql/tests.rs" -> [..., "mysql", "tests"].
fn module_of(file: &str) -> ModulePath {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if parts
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        parts.pop();
    }
    parts
}

fn parse_sources(texts: &BTreeMap<String, String>) -> Vec<SourceFile> {
    let mut blanked: BTreeMap<&str, String> = texts
        .iter()
        .filter(|(file, _)| file.as_str() != "main.rs")
        .map(|(file, text)| (file.as_str(), blank_comments_and_literals(text)))
        .collect();
    // Files declared under #[cfg(test)], and everything below them.
    let mut test_modules: Vec<ModulePath> = Vec::new();
    for (file, code) in &blanked {
        let module = module_of(file);
        for name in declared_modules(code).1 {
            let mut child = module.clone();
            child.push(name);
            test_modules.push(child);
        }
    }
    blanked.retain(|file, _| {
        let module = module_of(file);
        !test_modules
            .iter()
            .any(|test| module.len() >= test.len() && module[..test.len()] == test[..])
    });
    blanked
        .into_iter()
        .map(|(file, code)| SourceFile {
            file: file.to_owned(),
            module: module_of(file),
            code: without_test_blocks(&code),
        })
        .collect()
}

/// The names a file defines at any depth (items, methods, macros).
fn definitions(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let words: Vec<&str> = code
        .split(|c: char| !is_ident_char(c) && c != '!')
        .filter(|word| !word.is_empty())
        .collect();
    for pair in words.windows(2) {
        if matches!(
            pair[0],
            "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union"
        ) || pair[0] == "macro_rules!"
        {
            names.insert(pair[1].trim_end_matches('!').to_owned());
        }
    }
    names
}

/// Parses a path tree at the start of `text` ("a::b::{c, d::E}", "a::*") into its
/// full paths; stops at the first character that cannot continue it.
fn path_tree(text: &str) -> Vec<Vec<String>> {
    fn parse(chars: &[char], at: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut path = prefix;
        loop {
            while *at < chars.len() && chars[*at].is_whitespace() {
                *at += 1;
            }
            if *at < chars.len() && chars[*at] == '{' {
                *at += 1;
                loop {
                    parse(chars, at, path.clone(), out);
                    while *at < chars.len() && chars[*at].is_whitespace() {
                        *at += 1;
                    }
                    match chars.get(*at) {
                        Some(',') => *at += 1,
                        Some('}') => {
                            *at += 1;
                            return;
                        }
                        _ => return,
                    }
                    while *at < chars.len() && chars[*at].is_whitespace() {
                        *at += 1;
                    }
                    if chars.get(*at) == Some(&'}') {
                        *at += 1;
                        return;
                    }
                }
            }
            let start = *at;
            while *at < chars.len() && (is_ident_char(chars[*at]) || chars[*at] == '*') {
                *at += 1;
            }
            let segment: String = chars[start..*at].iter().collect();
            if segment.is_empty() || segment == "*" {
                out.push(path);
                return;
            }
            if segment != "self" || path.is_empty() {
                path.push(segment);
            }
            if chars.get(*at) == Some(&':') && chars.get(*at + 1) == Some(&':') {
                *at += 2;
            } else {
                out.push(path);
                return;
            }
        }
    }
    let chars: Vec<char> = text.chars().take(4096).collect();
    let mut out = Vec::new();
    parse(&chars, &mut 0, Vec::new(), &mut out);
    out
}

/// Whether the statement around `at` is a `pub use` (a re-export).
fn in_pub_use(code: &str, at: usize) -> bool {
    let start = code[..at].rfind([';', '}', '{']).map_or(0, |i| i + 1);
    let statement = code[start..at].trim_start();
    let Some(rest) = statement.strip_prefix("pub") else {
        return false;
    };
    // `pub`, `pub(crate)`, `pub(super)`, `pub(in path)`.
    let rest = match rest.trim_start().strip_prefix('(') {
        Some(inside) => inside.split_once(')').map_or("", |(_, after)| after),
        None => rest,
    };
    rest.trim_start().starts_with("use ")
}

/// The file edges of the library: (from file, to file), by the rules in the module doc.
fn file_edges(sources: &[SourceFile]) -> BTreeSet<(String, String)> {
    let by_module: BTreeMap<&ModulePath, &SourceFile> = sources
        .iter()
        .map(|source| (&source.module, source))
        .collect();
    let defined: BTreeMap<&str, BTreeSet<String>> = sources
        .iter()
        .map(|source| (source.file.as_str(), definitions(&source.code)))
        .collect();
    // The file that a full path names.
    let resolve = |path: &[String]| -> Option<&str> {
        let module_len = (0..=path.len())
            .rev()
            .find(|len| by_module.contains_key(&path[..*len].to_vec()))?;
        let module = by_module[&path[..module_len].to_vec()];
        let Some(item) = path.get(module_len) else {
            return Some(module.file.as_str());
        };
        if defined[module.file.as_str()].contains(item) {
            return Some(module.file.as_str());
        }
        // Reached through the folder's door: the one file below that defines it.
        let prefix = &path[..module_len];
        let mut definers = sources.iter().filter(|source| {
            source.module.len() > prefix.len()
                && source.module[..prefix.len()] == *prefix
                && defined[source.file.as_str()].contains(item)
        });
        let first = definers.next();
        if let (Some(first), None) = (first, definers.next()) {
            return Some(first.file.as_str());
        }
        Some(module.file.as_str())
    };
    let mut edges = BTreeSet::new();
    for source in sources {
        let own_module = source.module.clone();
        // A file with modules below it is their door (mod.rs, lib.rs, or `name.rs` beside
        // a `name/` folder).
        let is_door = sources.iter().any(|other| {
            other.module.len() > own_module.len()
                && other.module[..own_module.len()] == own_module[..]
        });
        let children: BTreeSet<String> = declared_modules(&source.code).0.into_iter().collect();
        let code = source.code.as_str();
        let mut at = 0;
        while at < code.len() {
            let rest = &code[at..];
            let Some(offset) = rest.find(|c: char| is_ident_char(c) || c == '$') else {
                break;
            };
            let start = at + offset;
            let word_end = code[start..]
                .find(|c: char| !(is_ident_char(c) || c == '$'))
                .map_or(code.len(), |end| start + end);
            let word = &code[start..word_end];
            at = word_end;
            let preceded_by_path = code[..start].trim_end().ends_with("::");
            if preceded_by_path || !code[word_end..].starts_with("::") {
                continue;
            }
            let base: Option<ModulePath> = match word {
                "crate" | "$crate" => Some(Vec::new()),
                "self" => Some(own_module.clone()),
                "super" => {
                    // `super` climbs once from this file's module, each further `super::` once more.
                    let mut up = own_module.clone();
                    up.pop();
                    let mut more = &code[word_end + 2..];
                    while let Some(next) = more.trim_start().strip_prefix("super::") {
                        up.pop();
                        more = next;
                    }
                    Some(up)
                }
                name if children.contains(name) => {
                    if in_pub_use(code, start) {
                        continue;
                    }
                    let mut child = own_module.clone();
                    child.push(name.to_owned());
                    for path in path_tree(&code[word_end + 2..]) {
                        let mut full = child.clone();
                        full.extend(path);
                        if let Some(to) = resolve(&full)
                            && to != source.file
                        {
                            edges.insert((source.file.clone(), to.to_owned()));
                        }
                    }
                    continue;
                }
                _ => None,
            };
            let Some(base) = base else { continue };
            let mut tail = &code[word_end + 2..];
            while let Some(next) = tail.trim_start().strip_prefix("super::") {
                tail = next;
            }
            let re_export = in_pub_use(code, start);
            for path in path_tree(tail) {
                let mut full = base.clone();
                full.extend(path);
                // A door's re-export of what lies below it is not a dependency.
                let below_own = full.len() > own_module.len()
                    && full[..own_module.len()] == own_module[..]
                    && is_door;
                if re_export && below_own {
                    continue;
                }
                if let Some(to) = resolve(&full)
                    && to != source.file
                {
                    edges.insert((source.file.clone(), to.to_owned()));
                }
            }
        }
    }
    edges
}

/// The room of a file: its top-level module ("lib" for lib.rs).
fn room_of(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or(file);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// Edges that run to a room of the same or a higher layer, or into an unlisted room.
fn upward_arrows(edges: &BTreeSet<(String, String)>) -> Vec<String> {
    let layer = |room: &str| {
        LAYERS
            .iter()
            .find(|(name, _)| *name == room)
            .map(|(_, l)| *l)
    };
    let mut found = Vec::new();
    for (from, to) in edges {
        let (from_room, to_room) = (room_of(from), room_of(to));
        if from_room == to_room || from_room == "lib" {
            continue;
        }
        match (layer(from_room), layer(to_room)) {
            (Some(from_layer), Some(to_layer)) if from_layer > to_layer => {}
            (Some(_), Some(_)) => found.push(format!("{from} -> {to}")),
            _ => found.push(format!("{from} -> {to} (a room missing from LAYERS)")),
        }
    }
    found
}

/// One import cycle, if the graph has any.
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(from).or_default().push(to);
    }
    // Depth-first search with colours: an edge to a node on the stack closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        done: &mut BTreeSet<&'a str>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        stack.push(node);
        for &next in graph.get(node).into_iter().flatten() {
            if let Some(position) = stack.iter().position(|on| *on == next) {
                let mut cycle: Vec<String> =
                    stack[position..].iter().map(|s| (*s).to_owned()).collect();
                cycle.push(next.to_owned());
                return Some(cycle);
            }
            if !done.contains(next)
                && let Some(cycle) = visit(next, graph, done, stack)
            {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for &node in graph.keys() {
        if !done.contains(node) {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, &graph, &mut done, &mut stack) {
                return Some(cycle);
            }
        }
    }
    None
}

/// The groups of files that reach each other (strongly connected, more than one file).
fn cyclic_groups(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let reach = |from: &str, forward: bool| -> BTreeSet<String> {
        let mut seen = BTreeSet::from([from.to_owned()]);
        let mut todo = vec![from.to_owned()];
        while let Some(node) = todo.pop() {
            for (a, b) in edges {
                let (here, there) = if forward { (a, b) } else { (b, a) };
                if *here == node && seen.insert(there.clone()) {
                    todo.push(there.clone());
                }
            }
        }
        seen
    };
    let mut groups: Vec<Vec<String>> = Vec::new();
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    for node in nodes {
        if groups.iter().any(|group| group.contains(node)) {
            continue;
        }
        let backward = reach(node, false);
        let group: Vec<String> = reach(node, true).intersection(&backward).cloned().collect();
        if group.len() > 1 {
            groups.push(group);
        }
    }
    groups
}

fn src_edges() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    file_edges(&library_sources(&root))
}

#[test]
fn no_file_of_src_imports_a_file_that_imports_it_back() {
    let edges = src_edges();
    // The graph is real: these arrows exist in any shape of the code.
    for (from_room, to_room) in [
        ("api", "store"),
        ("worker", "check"),
        ("check", "probe"),
        ("cli", "client"),
    ] {
        assert!(
            edges
                .iter()
                .any(|(from, to)| room_of(from) == from_room && room_of(to) == to_room),
            "no edge from {from_room} to {to_room}: the reading of imports is broken"
        );
    }
    assert!(edges.len() > 100, "only {} edges found", edges.len());
    let groups = cyclic_groups(&edges);
    assert!(
        groups.is_empty(),
        "files that import each other (each group holds at least one cycle, e.g. {}):\n{}",
        find_cycle(&edges).unwrap_or_default().join(" -> "),
        groups
            .iter()
            .map(|group| group.join(", "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn no_room_of_src_imports_a_room_above_it() {
    let upward = upward_arrows(&src_edges());
    assert!(
        upward.is_empty(),
        "imports against the layering (see LAYERS in src/layering.rs):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_reading_finds_a_cycle_and_an_upward_arrow_it_is_shown() {
    let texts: BTreeMap<String, String> = [
        ("lib.rs", "pub mod store; pub mod api;"),
        (
            "store/mod.rs",
            "mod rows;\npub use rows::Row;\npub(in crate::store) use rows::Other;\n",
        ),
        (
            "store/rows.rs",
            "// crate::api::Ignored in a comment\nuse crate::api::Handler;\npub struct Row;\npub struct Other;",
        ),
        (
            "api/mod.rs",
            "use crate::store::{Row, other::{A}};\npub struct Handler; const S: &str = \"crate::x::Y\";",
        ),
        (
            "api/tests_only.rs",
            "use crate::store::Row;\n#[cfg(test)]\nmod tests {\n use crate::domain::X;\n}\n",
        ),
    ]
    .into_iter()
    .map(|(file, text)| (file.to_owned(), text.to_owned()))
    .collect();
    let edges = file_edges(&parse_sources(&texts));
    let edge = |from: &str, to: &str| (from.to_owned(), to.to_owned());
    // Through the store's door to the file that defines Row.
    assert!(edges.contains(&edge("api/mod.rs", "store/rows.rs")));
    assert!(edges.contains(&edge("store/rows.rs", "api/mod.rs")));
    // Neither the door's re-export, nor comments, strings or test modules are edges.
    assert!(!edges.contains(&edge("store/mod.rs", "store/rows.rs")));
    assert!(!edges.iter().any(|(_, to)| to.starts_with("domain")));
    let cycle = find_cycle(&edges).expect("the cycle api <-> store is found");
    assert!(cycle.contains(&"store/rows.rs".to_owned()), "{cycle:?}");
    let upward = upward_arrows(&edges);
    assert_eq!(upward, vec!["store/rows.rs -> api/mod.rs".to_owned()]);
}
