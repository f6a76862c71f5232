use super::*;
use std::io::Write;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

/// The error of loading a file holding `text`.
fn load_error(text: &str, env: Vec<(String, String)>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.toml", text);
    Config::load_with_env(&file, env).unwrap_err().to_string()
}

#[test]
fn defaults_apply_to_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.toml", "");
    let config = Config::load_with_env(&file, no_env()).unwrap();
    assert_eq!(config.log.level, "info");
    assert_eq!(config.host.script_dirs, vec![dir.path().join("scripts")]);
    assert!(config.lua.instruction_budget > 0);
}

#[test]
fn unknown_key_is_named() {
    let err = load_error("[lua]\nmemory_limit = 3\n", no_env());
    assert!(err.contains("t.toml"), "{err}");
    assert!(err.contains("lua.memory_limit"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn unknown_section_is_named() {
    let err = load_error("[plugin.sip]\nx = 1\n", no_env());
    assert!(err.contains("`plugin`"), "{err}");
}

#[test]
fn wrong_type_is_named() {
    let err = load_error("[lua]\nmemory_limit_mb = \"lots\"\n", no_env());
    assert!(err.contains("lua.memory_limit_mb"), "{err}");
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn a_bad_key_from_the_environment_names_its_variable() {
    let env = vec![("TANDEM_LUA__BOGUS".to_owned(), "1".to_owned())];
    let err = load_error("", env);
    assert!(err.contains("lua.bogus"), "{err}");
    assert!(err.contains("(set by TANDEM_LUA__BOGUS)"), "{err}");
}

#[test]
fn a_log_level_that_is_no_filter_is_named() {
    let err = load_error("[log]\nlevel = \"verbose==\"\n", no_env());
    assert!(err.contains("t.toml: key `log.level`"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.toml", "[log]\nlevel = \"info,sip=debug\"\n");
    assert!(Config::load_with_env(&file, no_env()).is_ok());
}

#[test]
fn toml_syntax_error_names_the_file_and_line() {
    let err = load_error("[lua\n", no_env());
    assert!(err.contains("t.toml"), "{err}");
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.toml",
        "[log]\nlevel = \"info\"\n[plugins.example]\nprefix = \"a\"\n",
    );
    let env = vec![
        ("TANDEM_LOG__LEVEL".to_owned(), "debug".to_owned()),
        ("TANDEM_LUA__MEMORY_LIMIT_MB".to_owned(), "7".to_owned()),
        ("TANDEM_PLUGINS__EXAMPLE__PREFIX".to_owned(), "b".to_owned()),
        ("TANDEM_UNRELATED".to_owned(), "ignored: no `__`".to_owned()),
    ];
    let config = Config::load_with_env(&file, env).unwrap();
    assert_eq!(config.log.level, "debug");
    assert_eq!(config.lua.memory_limit_mb, 7);
    assert_eq!(config.plugin_section("example"), r#"{"prefix":"b"}"#);
}

#[test]
fn a_password_of_digits_from_the_environment_stays_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.toml", "[plugins.sip]\nuser = \"a\"\n");
    let env = vec![
        (
            "TANDEM_PLUGINS__SIP__PASSWORD".to_owned(),
            "0123".to_owned(),
        ),
        ("TANDEM_PLUGINS__SIP__EXPIRES".to_owned(), "300".to_owned()),
    ];
    let config = Config::load_with_env(&file, env).unwrap();
    assert_eq!(
        config.plugin_section("sip"),
        r#"{"expires":300,"password":"0123","user":"a"}"#
    );
}

#[test]
fn errors_never_show_the_values_they_refuse() {
    let dir = tempfile::tempdir().unwrap();
    // A TOML syntax error on a secret's line: the parser quotes the line.
    let file = write(dir.path(), "t.toml", "[plugins.sip]\npassword = hunter2\n");
    let err = Config::load_with_env(&file, no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // A value of the wrong type (an override may put a secret anywhere).
    let file = write(
        dir.path(),
        "t.toml",
        "[lua]\ninstruction_budget = \"hunter2\"\n",
    );
    let err = Config::load_with_env(&file, no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("lua.instruction_budget"), "{err}");
    assert!(err.contains("invalid type: string"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn secret_file_is_read_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sip.pass", "hunter2\n");
    let file = write(
        dir.path(),
        "t.toml",
        "[plugins.sip]\npassword_file = \"sip.pass\"\n",
    );
    let config = Config::load_with_env(&file, no_env()).unwrap();
    assert_eq!(config.plugin_section("sip"), r#"{"password":"hunter2"}"#);
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn missing_secret_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.toml",
        "[plugins.sip]\npassword_file = \"nope.pass\"\n",
    );
    let err = Config::load_with_env(&file, no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("plugins.sip.password_file"), "{err}");
    assert!(err.contains("nope.pass"), "{err}");
}

#[test]
fn missing_secret_variable_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.toml",
        "[plugins.sip]\npassword_env = \"TANDEM_TEST_SURELY_UNSET_VARIABLE\"\n",
    );
    let err = Config::load_with_env(&file, no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("TANDEM_TEST_SURELY_UNSET_VARIABLE"), "{err}");
    assert!(err.contains("plugins.sip.password_env"), "{err}");
}

#[test]
fn enabled_is_a_host_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.toml",
        "[plugins.example]\nenabled = false\nprefix = \"x\"\n[scripts.rule]\nenabled = false\n",
    );
    let config = Config::load_with_env(&file, no_env()).unwrap();
    assert_eq!(config.disabled_plugins, vec!["example".to_owned()]);
    assert_eq!(config.plugin_section("example"), r#"{"prefix":"x"}"#);
    assert_eq!(config.script_enabled("rule"), Some(false));
    assert_eq!(
        config.script_enabled("other"),
        None,
        "the rule's own default applies"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = Config::load_with_env(Path::new("/nonexistent/t.toml"), no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/t.toml"), "{err}");
}

#[test]
fn a_wrong_enabled_never_shows_its_value() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "token.txt", "hunter2\n");
    // A secret reference resolves before `enabled` is checked.
    let file = write(
        dir.path(),
        "t.toml",
        "[scripts.rule]\nenabled_file = \"token.txt\"\n",
    );
    let err = Config::load_with_env(&file, no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("scripts.rule.enabled"), "{err}");
    assert!(err.contains("found a string"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let env = vec![(
        "TANDEM_PLUGINS__SIP__ENABLED".to_owned(),
        "hunter2".to_owned(),
    )];
    let err = load_error("[plugins.sip]\n", env);
    assert!(err.contains("plugins.sip.enabled"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
