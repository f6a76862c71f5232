//! The plugin's layers, checked: `transport/` (before rsipstack parses)
//! imports nothing from `guard/` or `ua/`; `guard/` (who may do what)
//! imports nothing from `ua/`; every `impl Agent` lives in `ua/`; no
//! module is in an import cycle; and no product file
//! grows past [`MAX_LINES`]. Read from the sources, so that a
//! `use` slipped in by a later change fails here rather than growing a
//! cycle unseen (docs/decisions/0020-sip-plugin-layers.md).

use std::path::{Path, PathBuf};

/// Lines a file may hold before its `mod tests`.
const MAX_LINES: usize = 600;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                found.push((path, text));
            }
        }
    }
    found.sort();
    found
}

/// The code of a file, comments left out (a doc may name any layer).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The places in `layer`'s files that reach one of `forbidden` (`crate::`
/// paths, or `super::super` out of the layer's folder).
fn reaching(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources(&src().join(layer)) {
        let code = code(&text);
        for what in forbidden {
            let needle = format!("crate::{what}");
            if code.contains(&needle) {
                found.push(format!("{} uses {needle}", path.display()));
            }
        }
        // `super::super::…` could leave the layer unseen by the check above.
        // From `layer/a/b.rs`, `super::super::super` is the crate root;
        // from `layer/a/mod.rs`, `super::super`.
        let depth = path
            .strip_prefix(src().join(layer))
            .map_or(0, |p| p.components().count());
        let to_root = depth + usize::from(!path.ends_with("mod.rs"));
        if code.contains(&"super::".repeat(to_root)) {
            found.push(format!(
                "{} climbs out of {layer}/ with super::",
                path.display()
            ));
        }
    }
    found
}

#[test]
fn transport_and_guard_stay_below_the_user_agent() {
    let mut broken = reaching("transport", &["guard", "ua"]);
    broken.extend(reaching("guard", &["ua"]));
    assert!(
        broken.is_empty(),
        "layer rule broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_agent_is_implemented_in_the_user_agent_only() {
    let outside: Vec<String> = sources(&src())
        .into_iter()
        .filter(|(path, _)| !path.starts_with(src().join("ua")) && !path.ends_with("layers.rs"))
        .filter(|(_, text)| code(text).contains("impl Agent"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(outside.is_empty(), "impl Agent outside ua/: {outside:?}");
}

#[test]
fn no_product_file_is_too_long_to_read() {
    let long: Vec<String> = sources(&src())
        .into_iter()
        .filter_map(|(path, text)| {
            let product = text
                .lines()
                .take_while(|line| {
                    !line
                        .trim_start_matches("pub(crate) ")
                        .starts_with("mod tests")
                })
                .count();
            (product > MAX_LINES).then(|| format!("{}: {product} lines", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concept: {long:?}");
}

#[test]
fn the_check_sees_a_forbidden_use() {
    assert!(code("use crate::ua::agent::Agent; // crate::guard").contains("crate::ua"));
    assert!(!code("//! see crate::ua").contains("crate::ua"));
}

/// A module's path (`transport::tls::screened`) from its file.
fn module_of(path: &Path) -> Vec<String> {
    let relative = path.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Which modules each module names (`crate::…` and `super::…` paths), its
/// tests left out.
fn imports() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let files = sources(&src());
    let known: std::collections::BTreeSet<Vec<String>> =
        files.iter().map(|(path, _)| module_of(path)).collect();
    let mut graph = std::collections::BTreeMap::new();
    for (path, text) in &files {
        let module = module_of(path);
        let code = code(text);
        let product = code
            .split("\nmod tests")
            .next()
            .unwrap_or_default()
            .split("\npub(crate) mod tests")
            .next()
            .unwrap_or_default();
        let mut named = std::collections::BTreeSet::new();
        let words = product.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
        for word in words {
            let mut segments: Vec<&str> = word.split("::").collect();
            let mut target: Vec<String> = match segments.first() {
                Some(&"crate") => {
                    segments.remove(0);
                    Vec::new()
                }
                Some(&"super") => {
                    // `super` of a file `a/b.rs` (module a::b) is `a`.
                    let mut base = module.clone();
                    while segments.first() == Some(&"super") {
                        segments.remove(0);
                        base.pop();
                    }
                    base
                }
                _ => continue,
            };
            target.extend(segments.iter().map(|s| s.to_string()));
            // The longest prefix that is a module of the crate.
            while !target.is_empty() && !known.contains(&target) {
                target.pop();
            }
            if !target.is_empty() && target != module {
                named.insert(target.join("::"));
            }
        }
        graph.insert(module.join("::"), named);
    }
    graph
}

#[test]
fn no_module_cycle() {
    let graph = imports();
    // Depth-first search for a path back to where it started.
    fn reaches(
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut std::collections::BTreeSet<String>,
    ) -> bool {
        graph
            .get(from)
            .into_iter()
            .flatten()
            .any(|next| next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen)))
    }
    let cycles: Vec<&String> = graph
        .keys()
        .filter(|module| reaches(&graph, module, module, &mut Default::default()))
        .collect();
    assert!(cycles.is_empty(), "modules in a cycle: {cycles:?}");
    // The check sees the edges it must.
    assert!(graph["transport::udp"].contains("transport::screen"));
    assert!(graph["transport::tls::accept"].contains("transport::tls::connector"));
    assert!(graph["ua::dialog_events"].contains("ua::in_dialog"));
    assert!(graph["media::device"].contains("media::audio"));
    assert!(graph["media::source"].contains("media::device"));
}
