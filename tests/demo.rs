//! `tandem demo` as a user runs it: the real binary, a real Prosody, three
//! real daemons; and the one-line hint when Prosody is missing.

use std::process::Command;

#[test]
fn the_demo_plays_the_whole_story_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(tandem_tests::tandem_bin())
        .arg("demo")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for step in [
        "carol sees alice and bob available",
        "bob's auto-answer rule picks up",
        "carol sees alice \"On the phone\" (away)",
        "carol sees bob \"On the phone\" (away)",
        "carol gets alice's activity talking/on_the_phone",
        "audio flows both ways",
        "presence restored",
        "All 11 steps passed",
    ] {
        assert!(stdout.contains(step), "no {step:?} in:\n{stdout}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn without_prosody_the_demo_says_how_to_get_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(tandem_tests::tandem_bin())
        .arg("demo")
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("tandem demo needs Prosody, an XMPP server: sudo apt-get install prosody"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}
