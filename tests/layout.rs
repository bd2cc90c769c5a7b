//! The layout keeps its promises: the library admins load links no server, and the core's rooms
//! import each other in one direction only (no cycle).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo tree` of the shipped library (normal dependencies, with features), offline.
fn shipped_tree() -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["tree", "--offline", "--locked", "-p", "kodo", "-e", "normal,features", "--prefix", "none"])
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The features a crate is built with in `tree` (lines `name feature "f"`).
fn features_of<'a>(tree: &'a str, krate: &str) -> BTreeSet<&'a str> {
    let prefix = format!("{krate} feature \"");
    tree.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).filter_map(|f| f.split('"').next()).collect()
}

#[test]
fn the_shipped_library_links_no_server_and_no_emulator() {
    let tree = shipped_tree();
    let crates: BTreeSet<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    for server in ["axum", "axum-core", "axum-server", "clap", "rcgen", "kodo-emulator"] {
        assert!(!crates.contains(server), "the shipped library depends on {server}:\n{tree}");
    }
    // hyper and hyper-util: the HTTP client's, client features only.
    for krate in ["hyper", "hyper-util"] {
        let server: Vec<&str> = features_of(&tree, krate).into_iter().filter(|f| f.contains("server")).collect();
        assert!(server.is_empty(), "{krate} is built with server features {server:?}");
    }
    // reqwest 0.13 itself depends on tower-http for following redirects (client middleware);
    // nothing else of it may be linked (the emulator uses its server middleware).
    let tower_http = features_of(&tree, "tower-http");
    let allowed = ["follow-redirect", "futures-util", "tower"];
    assert!(tower_http.iter().all(|f| allowed.contains(f)), "tower-http is built with {tower_http:?}");
    assert!(crates.contains("kodo-core") && crates.contains("reqwest"), "the tree is not the one expected:\n{tree}");
}

/// The top-level module (room) of the core that a source file belongs to.
fn room_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
    (first != "lib").then_some(first)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// room -> rooms it names as `crate::<room>` (outside tests).
fn core_imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("crates/kodo-core/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(room) = room_of(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).expect("readable source");
        // Unit tests may reach anywhere; the rooms' own code may not.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let deps = graph.entry(room.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != room && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                deps.insert(name);
            }
        }
    }
    graph
}

#[test]
fn the_core_rooms_import_each_other_without_a_cycle() {
    let graph = core_imports();
    assert!(graph.len() >= 10, "rooms found: {:?}", graph.keys());
    // Depth-first search for a back edge; the cycle is named if found.
    fn visit(
        room: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|r| r == room) {
            let mut cycle = path[at..].to_vec();
            cycle.push(room.to_string());
            return Some(cycle);
        }
        if done.contains(room) {
            return None;
        }
        path.push(room.to_string());
        for next in graph.get(room).into_iter().flatten() {
            if let Some(c) = visit(next, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(room.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for room in graph.keys() {
        if let Some(cycle) = visit(room, &graph, &mut done, &mut Vec::new()) {
            panic!("import cycle between the core's rooms: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_leaves_stay_leaves() {
    let graph = core_imports();
    let allowed: [(&str, &[&str]); 5] =
        [("error", &[]), ("context", &["error"]), ("crypto", &[]), ("transport", &[]), ("platform", &[])];
    for (room, may) in allowed {
        let uses = graph.get(room).cloned().unwrap_or_default();
        let extra: Vec<&String> = uses.iter().filter(|u| !may.contains(&u.as_str())).collect();
        assert!(extra.is_empty(), "{room} is a leaf but imports {extra:?}");
    }
    // Nothing below onboarding reaches up into it.
    for (room, uses) in &graph {
        if room != "onboarding" {
            assert!(!uses.contains("onboarding"), "{room} imports onboarding");
        }
    }
}
