//! File names from peers, made safe to show and to save under.
//!
//! A peer chooses the name, so it may try to leave the download folder
//! (`../../.bashrc`, `/etc/passwd`, `C:\x`), hide (`.profile`), spoof an
//! extension with a right-to-left override, break a terminal with control
//! characters, or use a name Windows reserves (`CON`, `nul.txt`). What
//! comes out is one plain path component, never empty, `.` or `..`.

/// Longest name kept, in bytes (most file systems take 255).
pub const MAX_NAME: usize = 200;
/// What a file is called when nothing usable is left of its name.
pub const FALLBACK: &str = "file";

/// Characters Windows refuses in names, replaced by `_` everywhere so a
/// file stays copyable to any disk.
const RESERVED_CHARS: &[char] = &['<', '>', ':', '"', '|', '?', '*'];
/// Device names Windows reserves, with any extension.
const RESERVED_NAMES: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The safe form of `raw` (see the module comment).
pub fn sanitise(raw: &str) -> String {
    // Only the last component of any path, whichever separator it uses.
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .map(|c| if RESERVED_CHARS.contains(&c) { '_' } else { c })
        .collect();
    // No hidden files, nothing Windows strips from the end.
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return FALLBACK.to_owned();
    }
    let stem = trimmed.split('.').next().unwrap_or("").trim_end();
    let name = if RESERVED_NAMES.contains(&stem.to_ascii_lowercase().as_str()) {
        format!("_{trimmed}")
    } else {
        trimmed.to_owned()
    };
    shorten(&name)
}

/// Bidirectional overrides and zero-width characters: they make
/// `gpj.exe` show as `exe.jpg`, or two names look the same.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// At most [`MAX_NAME`] bytes, cut on a character boundary, keeping a
/// short extension so the file still opens with the right program.
fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_owned();
    }
    let ext = name
        .rfind('.')
        .map(|i| &name[i..])
        .filter(|e| e.len() <= 16)
        .unwrap_or("");
    let mut cut = MAX_NAME - ext.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ordinary_names() {
        for name in [
            "holiday.jpg",
            "Résumé 2024.pdf",
            "a b.tar.gz",
            "日本語.txt",
            "x",
        ] {
            assert_eq!(sanitise(name), name);
        }
    }

    #[test]
    fn never_leaves_the_folder() {
        assert_eq!(sanitise("../../.bashrc"), "bashrc");
        assert_eq!(sanitise("/etc/passwd"), "passwd");
        assert_eq!(sanitise("..\\..\\windows\\win.ini"), "win.ini");
        assert_eq!(sanitise("C:\\boot.ini"), "boot.ini");
        assert_eq!(sanitise("C:boot.ini"), "C_boot.ini");
        for bad in ["..", ".", "../", "/", "", "   ", "...", "a/..", "\\"] {
            let out = sanitise(bad);
            assert_eq!(out, FALLBACK, "{bad:?}");
        }
    }

    #[test]
    fn drops_control_and_invisible_characters() {
        assert_eq!(sanitise("a\0b.txt"), "ab.txt");
        assert_eq!(sanitise("evil\r\nname\x1b[31m.txt"), "evilname[31m.txt");
        assert_eq!(sanitise("photo\u{202E}gpj.exe"), "photogpj.exe");
        assert_eq!(sanitise("a\u{7f}\u{85}b"), "ab");
        assert_eq!(sanitise("what?<now>|\"*"), "what__now____");
    }

    #[test]
    fn reserved_device_names_are_prefixed() {
        assert_eq!(sanitise("CON"), "_CON");
        assert_eq!(sanitise("nul.txt"), "_nul.txt");
        assert_eq!(sanitise("com1.tar.gz"), "_com1.tar.gz");
        assert_eq!(sanitise("console.txt"), "console.txt");
    }

    #[test]
    fn overlong_names_are_cut_keeping_the_extension() {
        let long = format!("{}.jpg", "é".repeat(300));
        let out = sanitise(&long);
        assert!(out.len() <= MAX_NAME, "{}", out.len());
        assert!(out.ends_with(".jpg"));
        let no_ext = "x".repeat(1000);
        assert_eq!(sanitise(&no_ext).len(), MAX_NAME);
    }

    #[test]
    fn hidden_and_trailing_dots_go() {
        assert_eq!(sanitise(".profile"), "profile");
        assert_eq!(sanitise("report.pdf. . "), "report.pdf");
    }
}
