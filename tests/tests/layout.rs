//! The shape of the source tree (issue 14): every crate's modules form no
//! import circle, and no service source file grows past what a reader can
//! hold (the decision table excepted). Read from the `use` lines and inline
//! `crate::…` / `super::…` paths, so it stays true as the code moves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// Longest a file under `services/*/src` may be.
const MAX_SERVICE_FILE_LINES: usize = 800;

/// Files allowed past [`MAX_SERVICE_FILE_LINES`]: the decision table is one
/// table and reads best whole.
const LONG_FILES_ALLOWED: &[&str] = &["services/case-access/src/domain/table.rs"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// The `src` folders of every crate of the workspace.
fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let mut sources = vec![root.join("tests/src")];
    for group in ["services", "shared"] {
        for entry in std::fs::read_dir(root.join(group)).expect("read crate folder") {
            let src = entry.expect("entry").path().join("src");
            if src.is_dir() {
                sources.push(src);
            }
        }
    }
    sources.sort();
    sources
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            out.push(path);
        }
    }
}

type ModulePath = Vec<String>;

/// A crate's modules: module path (`["app", "groups"]`) → its code without
/// comments and string contents. Binaries under `src/bin/` are crates of
/// their own and left out; `main.rs` counts only when there is no `lib.rs`.
fn modules(src: &Path) -> BTreeMap<ModulePath, String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let has_lib = src.join("lib.rs").exists();
    let mut modules = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src").to_string_lossy().replace('\\', "/");
        if relative.starts_with("bin/") || (relative == "main.rs" && has_lib) {
            continue;
        }
        let mut parts: ModulePath = relative.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            parts.pop();
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        modules.insert(parts, strip_comments_and_strings(&text));
    }
    modules
}

fn strip_comments_and_strings(text: &str) -> String {
    let block = Regex::new(r"(?s)/\*.*?\*/").unwrap();
    let line = Regex::new(r"//[^\n]*").unwrap();
    let raw = Regex::new(r##"(?s)r#*".*?"#*"##).unwrap();
    let string = Regex::new(r#""(?:\\.|[^"\\])*""#).unwrap();
    let text = block.replace_all(text, "");
    let text = line.replace_all(&text, "");
    let text = raw.replace_all(&text, "\"\"");
    string.replace_all(&text, "\"\"").into_owned()
}

/// `a::{b, c::{d, e as f}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand_use_tree(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    if let Some(open) = tree.find('{')
        && tree.ends_with('}')
    {
        let prefix = tree[..open].trim_end_matches("::").trim();
        let inner = &tree[open + 1..tree.len() - 1];
        let mut parts = Vec::new();
        let (mut depth, mut current) = (0, String::new());
        for character in inner.chars() {
            match character {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if character == ',' && depth == 0 {
                parts.push(std::mem::take(&mut current));
            } else {
                current.push(character);
            }
        }
        parts.push(current);
        return parts
            .iter()
            .filter(|part| !part.trim().is_empty())
            .flat_map(|part| expand_use_tree(part))
            .map(|path| if prefix.is_empty() { path } else { format!("{prefix}::{path}") })
            .collect();
    }
    vec![tree.split(" as ").next().unwrap_or_default().trim().to_owned()]
}

struct Crate {
    modules: BTreeMap<ModulePath, String>,
    /// (module, name) → the path a `pub use` there re-exports `name` from.
    reexports: BTreeMap<(ModulePath, String), String>,
}

impl Crate {
    fn read(src: &Path) -> Self {
        let modules = modules(src);
        let public_use = Regex::new(r"\bpub(?:\([\w ]+\))?\s+use\s+([^;]+);").unwrap();
        let mut reexports = BTreeMap::new();
        for (module, code) in &modules {
            for found in public_use.captures_iter(code) {
                for path in expand_use_tree(&found[1]) {
                    let name = path.rsplit("::").next().unwrap_or_default().to_owned();
                    reexports.insert((module.clone(), name), path);
                }
            }
        }
        Self { modules, reexports }
    }

    /// The module `path` (as written in `current`) points into, following
    /// re-exports to the module that defines the item; `None` for other crates.
    fn resolve(&self, current: &ModulePath, path: &str, depth: usize) -> Option<ModulePath> {
        let mut segments: Vec<&str> = path.split("::").filter(|segment| !segment.is_empty()).collect();
        let mut target: ModulePath = match segments.first().copied()? {
            "crate" => {
                segments.remove(0);
                Vec::new()
            }
            "super" => {
                let mut base = current.clone();
                while segments.first() == Some(&"super") {
                    base.pop();
                    segments.remove(0);
                }
                base
            }
            "self" => {
                segments.remove(0);
                current.clone()
            }
            first if self.modules.contains_key(&[current.clone(), vec![first.to_owned()]].concat()) => current.clone(),
            _ => return None,
        };
        let mut rest = segments.into_iter().peekable();
        while let Some(next) = rest.peek() {
            let child = [target.clone(), vec![(*next).to_owned()]].concat();
            if !self.modules.contains_key(&child) {
                break;
            }
            target = child;
            rest.next();
        }
        if let Some(name) = rest.next()
            && depth < 5
            && let Some(source) = self.reexports.get(&(target.clone(), name.to_owned()))
            && let Some(defining) = self.resolve(&target, source, depth + 1)
        {
            return Some(defining);
        }
        Some(target)
    }

    /// Module → the modules it depends on, leaving out itself and its
    /// ancestors (a module may use what its enclosing modules define, as
    /// `use super::*` does; siblings and descendants may not form a circle).
    fn dependencies(&self) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
        let use_line = Regex::new(r"\buse\s+([^;]+);").unwrap();
        let inline = Regex::new(r"\b((?:crate|super)(?:::\w+)+)").unwrap();
        let mut graph = BTreeMap::new();
        for (module, code) in &self.modules {
            let mut paths: Vec<String> =
                use_line.captures_iter(code).flat_map(|found| expand_use_tree(&found[1])).collect();
            paths.extend(inline.captures_iter(code).map(|found| found[1].to_owned()));
            let targets: BTreeSet<ModulePath> = paths
                .iter()
                .filter_map(|path| self.resolve(module, path, 0))
                .filter(|target| !module.starts_with(target))
                .collect();
            graph.insert(module.clone(), targets);
        }
        graph
    }
}

/// The strongly connected groups of more than one module (Tarjan).
fn circles(graph: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<Vec<ModulePath>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        index: BTreeMap<&'a ModulePath, usize>,
        low: BTreeMap<&'a ModulePath, usize>,
        stack: Vec<&'a ModulePath>,
        on_stack: BTreeSet<&'a ModulePath>,
        found: Vec<Vec<ModulePath>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a ModulePath) {
            let number = self.index.len();
            self.index.insert(node, number);
            self.low.insert(node, number);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(member);
                    group.push(member.clone());
                    if member == node {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

fn module_name(module: &ModulePath) -> String {
    if module.is_empty() { "crate".to_owned() } else { module.join("::") }
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut crates = 0;
    for src in crate_sources(&root) {
        crates += 1;
        let krate = Crate::read(&src);
        for circle in circles(&krate.dependencies()) {
            let names: Vec<String> = circle.iter().map(module_name).collect();
            problems.push(format!("{}: {}", src.strip_prefix(&root).unwrap().display(), names.join(" ↔ ")));
        }
    }
    assert!(crates >= 15, "found only {crates} crates under {}", root.display());
    assert!(problems.is_empty(), "import circles:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_a_circle_through_a_reexport() {
    let mut modules = BTreeMap::new();
    modules.insert(vec![], "mod a; mod b; pub use a::Thing;".to_owned());
    modules.insert(vec!["a".to_owned()], "use crate::b::Other; pub struct Thing;".to_owned());
    modules.insert(vec!["b".to_owned()], "use crate::Thing; pub struct Other;".to_owned());
    let mut krate = Crate { modules, reexports: BTreeMap::new() };
    krate.reexports.insert((vec![], "Thing".to_owned()), "a::Thing".to_owned());
    let found = circles(&krate.dependencies());
    assert_eq!(found, vec![vec![vec!["a".to_owned()], vec!["b".to_owned()]]]);
    // Using what an ancestor defines is allowed.
    krate.modules.insert(vec!["b".to_owned()], "use super::Local; pub struct Other;".to_owned());
    assert!(circles(&krate.dependencies()).is_empty());
}

#[test]
fn no_service_source_file_is_longer_than_a_reader_can_hold() {
    let root = workspace_root();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("services")).expect("services") {
        let src = entry.expect("entry").path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut long = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let lines = std::fs::read_to_string(&file).expect("read").lines().count();
        if lines > MAX_SERVICE_FILE_LINES && !LONG_FILES_ALLOWED.contains(&relative.as_str()) {
            long.push(format!("{relative}: {lines} lines"));
        }
    }
    assert!(long.is_empty(), "files over {MAX_SERVICE_FILE_LINES} lines:\n{}", long.join("\n"));
}
