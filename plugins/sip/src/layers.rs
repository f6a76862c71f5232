//! The plugin's layers, checked: `transport/` (before rsipstack parses)
//! imports nothing from `guard/` or `ua/`; `guard/` (who may do what)
//! imports nothing from `ua/`; every `impl Agent` lives in `ua/`; and no
//! product file grows past [`MAX_LINES`]. Read from the sources, so that a
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
