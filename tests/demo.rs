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
        "carol sees alice and bob \"Reachable by phone\" (no chat client of theirs is online)",
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

/// Ctrl-C in the middle: the demo stops its children and removes its files,
/// as at the end of a normal run, and says it was interrupted.
#[test]
fn ctrl_c_stops_the_demo_cleanly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    // A group of its own, as a shell gives a foreground job.
    let mut demo = Command::new(tandem_tests::tandem_bin())
        .arg("demo")
        .process_group(0)
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(demo.stdout.take().unwrap());
    let mut seen = String::new();
    // Once the daemons are up, in the middle of the story.
    while !seen.contains("are online") {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the demo ended early:\n{seen}"
        );
        seen.push_str(&line);
    }
    // What a terminal's Ctrl-C sends: SIGINT to the demo's process group.
    let pid = i32::try_from(demo.id()).unwrap();
    // SAFETY: kill(2) on the group of our own child; no memory involved.
    assert_eq!(unsafe { libc::kill(-pid, libc::SIGINT) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = demo.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("stopped everything"), "{seen}{rest}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    let ps = Command::new("pgrep")
        .args(["-f", &tmp.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}
