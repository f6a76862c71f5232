//! The shipped rules, run by the real `tandem script test` against recorded
//! events. Each `tests/rules/<script>/<case>.jsonl` has a `<case>.expected`
//! next to it; `UPDATE_EXPECT=1 cargo test -p tandem-tests --test rules`
//! rewrites them after a deliberate change (review the diff).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tandem_tests::*;

fn script_test(script: &Path, events: &Path, config: Option<&Path>) -> Output {
    let mut cmd = Command::new(tandem_bin());
    // Rules write times of day ("at 11:18"): the same in every time zone.
    cmd.env("TZ", "UTC");
    cmd.arg("script")
        .arg("test")
        .arg(script)
        .arg("--events")
        .arg(events);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.output().unwrap()
}

fn cases(script: &str) -> Vec<PathBuf> {
    let dir = workspace().join("tests/rules").join(script);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    cases
}

fn check_golden(script: &str) {
    let script_path = workspace().join("scripts").join(format!("{script}.lua"));
    // Opt-in rules are switched on (and configured) by the case folder's config.
    let config = workspace()
        .join("tests/rules")
        .join(script)
        .join("tandem.toml");
    let config = config.exists().then_some(config);
    let mut failures = Vec::new();
    for case in cases(script) {
        let out = script_test(&script_path, &case, config.as_deref());
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}: {stderr}\n{stdout}",
            case.display()
        );
        let expected_path = case.with_extension("expected");
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&expected_path, &stdout).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != stdout {
            failures.push(format!(
                "{}\n--- expected\n{expected}--- got\n{stdout}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn on_the_phone_recorded_cases() {
    check_golden("on-the-phone");
}

#[test]
fn notify_calls_recorded_cases() {
    check_golden("notify-calls");
}

#[test]
fn preauth_links_recorded_cases() {
    check_golden("preauth-links");
}

#[test]
fn reject_when_dnd_recorded_cases() {
    check_golden("reject-when-dnd");
}

#[test]
fn busy_recorded_cases() {
    check_golden("busy");
}

/// What `script` does with `tests/rules/<script>/<case>.jsonl` under the
/// configuration `toml` (the run must succeed).
fn run_configured(script: &str, case: &str, toml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "tandem.toml", toml);
    let events = workspace().join(format!("tests/rules/{script}/{case}.jsonl"));
    let out = script_test(
        &workspace().join(format!("scripts/{script}.lua")),
        &events,
        Some(&config),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    stdout
}

/// `sip_while_xmpp = "notify"`: the SIP call rings on, with a call-waiting note.
#[test]
fn busy_can_only_say_call_waiting() {
    let toml = "[scripts.busy]\nenabled = true\nsip_while_xmpp = \"notify\"\n";
    let stdout = run_configured("busy", "sip-while-xmpp", toml);
    assert!(!stdout.contains("sip.reject"), "{stdout}");
    assert!(
        stdout.contains("Call waiting: Carol <sip:carol@example.org> is calling your phone while you talk with bob@example.org."),
        "{stdout}"
    );
}

#[test]
fn auto_answer_recorded_cases() {
    check_golden("auto-answer");
}

#[test]
fn call_control_recorded_cases() {
    check_golden("call-control");
}

#[test]
fn status_commands_recorded_cases() {
    check_golden("status-commands");
}

#[test]
fn status_commands_show_and_switch_the_configured_presence_rule() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "tandem.toml",
        "[scripts.status-commands]\npresence_rule = \"my-presence\"\n",
    );
    let events = write(
        dir.path(),
        "e.jsonl",
        r#"{"reply": "host.status", "result": {"rules": [{"name": "on-the-phone", "enabled": true}, {"name": "my-presence", "enabled": false}]}}
{"command": "status.presence_form", "args": {}}
{"reply": "host.status", "result": {"rules": [{"name": "on-the-phone", "enabled": true}, {"name": "my-presence", "enabled": false}]}}
{"command": "status.rules", "args": {"fields": {"my-presence": "1"}}}
"#,
    );
    let out = script_test(
        &workspace().join("scripts/status-commands.lua"),
        &events,
        Some(&config),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(r#"answer status.presence_form {"fields":[{"label":"my-presence","type":"boolean","value":"0","var":"my-presence"}]}"#)
            && stdout.contains(r#"host.set_rule {"enabled":true,"name":"my-presence"}"#)
            && stdout.contains("my-presence: now on."),
        "{stdout}"
    );
}

#[test]
fn opt_in_rules_do_nothing_unless_switched_on() {
    for (script, case) in [
        ("reject-when-dnd", "dnd"),
        ("auto-answer", "allow-list"),
        ("busy", "xmpp-while-sip"),
    ] {
        let events = workspace().join(format!("tests/rules/{script}/{case}.jsonl"));
        let out = script_test(
            &workspace().join(format!("scripts/{script}.lua")),
            &events,
            None,
        );
        assert!(out.status.success(), "{script}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "{script} is opt-in"
        );
    }
}

#[test]
fn on_the_phone_switched_off_does_nothing() {
    let toml = "[scripts.on-the-phone]\nenabled = false\n";
    assert_eq!(run_configured("on-the-phone", "one-call", toml), "");
}

/// `xmpp_calls = false`: only the SIP call of the case sets the presence.
#[test]
fn on_the_phone_can_leave_xmpp_calls_out() {
    let toml = "[scripts.on-the-phone]\nxmpp_calls = false\n";
    let stdout = run_configured("on-the-phone", "xmpp-call", toml);
    assert!(
        stdout.starts_with("  13.000s  call  xmpp.set_presence")
            && stdout.contains("\n  28.000s  call  xmpp.set_presence"),
        "{stdout}"
    );
}

#[test]
fn on_the_phone_uses_the_configured_presence() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "tandem.toml",
        "[scripts.on-the-phone]\nshow = \"dnd\"\nstatus = \"Busy\"\npriority = 11\nactivity = false\n",
    );
    let events = workspace().join("tests/rules/on-the-phone/one-call.jsonl");
    let out = script_test(
        &workspace().join("scripts/on-the-phone.lua"),
        &events,
        Some(&config),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#"xmpp.set_presence {"priority":11,"show":"dnd","status":"Busy"}"#),
        "{stdout}"
    );
    assert!(!stdout.contains("xmpp.set_activity"), "{stdout}");
}

#[test]
fn on_the_phone_refuses_a_bad_show_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "tandem.toml",
        "[scripts.on-the-phone]\nshow = \"sleeping\"\n",
    );
    let events = workspace().join("tests/rules/on-the-phone/one-call.jsonl");
    let out = script_test(
        &workspace().join("scripts/on-the-phone.lua"),
        &events,
        Some(&config),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("on-the-phone.lua:") && stderr.contains("sleeping"),
        "{stderr}"
    );
}

#[test]
fn a_handler_error_fails_the_run_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "oops.lua",
        "tandem.on('a', function(ev)\n  return ev.missing.field\nend)\n",
    );
    let events = write(dir.path(), "e.jsonl", "{\"event\": \"a\", \"data\": {}}\n");
    let out = script_test(&script, &events, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("oops.lua:2"), "{stdout}");
}

#[test]
fn a_bad_events_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "ok.lua", "tandem.on('a', function() end)\n");
    let events = write(
        dir.path(),
        "e.jsonl",
        "# fine\n{\"event\": \"a\"}\n{\"evnt\": 3}\n",
    );
    let out = script_test(&script, &events, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("e.jsonl:3"), "{stderr}");
}

#[test]
fn timers_run_on_virtual_time() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "t.lua",
        "tandem.on('go', function()\n  tandem.after(15, function()\n    tandem.call('x.later', {})\n    tandem.after(10, function() tandem.call('x.even_later', {}) end)\n  end)\nend)\n",
    );
    let events = write(
        dir.path(),
        "e.jsonl",
        "{\"event\": \"go\"}\n{\"wait\": 60}\n",
    );
    let out = script_test(&script, &events, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("15.000s  call  x.later"), "{stdout}");
    assert!(stdout.contains("25.000s  call  x.even_later"), "{stdout}");
}

#[test]
fn commands_a_rule_provides_are_answered_in_script_test() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "greet.lua",
        "tandem.provide('greet.hello', function(args)\n  if not args.who then return nil, 'who?' end\n  local p = tandem.call('xmpp.presence', {})\n  return { text = 'hello ' .. args.who, show = p.show }\nend)\n",
    );
    let events = write(
        dir.path(),
        "e.jsonl",
        "{\"reply\": \"xmpp.presence\", \"result\": {\"show\": \"chat\"}}\n{\"command\": \"greet.hello\", \"args\": {\"who\": \"ann\"}}\n{\"command\": \"greet.hello\"}\n",
    );
    let out = script_test(&script, &events, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            "0.000s  call  xmpp.presence {}",
            r#"0.000s  answer greet.hello {"show":"chat","text":"hello ann"}"#,
            r#"0.000s  refused greet.hello {"kind":"rejected","message":"who?"}"#,
        ],
        "{stdout}"
    );
}

#[test]
fn sip_chat_recorded_cases() {
    check_golden("sip-chat");
}

#[test]
fn share_xmpp_address_recorded_cases() {
    check_golden("share-xmpp-address");
}

#[test]
fn publish_reach_recorded_cases() {
    check_golden("publish-reach");
}

#[test]
fn phone_presence_recorded_cases() {
    check_golden("phone-presence");
}

#[test]
fn accept_files_recorded_cases() {
    check_golden("accept-files");
}

#[test]
fn call_invites_recorded_cases() {
    check_golden("call-invites");
}
