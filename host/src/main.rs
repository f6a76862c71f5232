//! The `tandem` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tandem::check::Finding;
use tandem::config::{Config, LogFormat};
use tandem::control::commands::{render_status, CtlCommand, PLUGIN_STATUS};
use tandem::control::{client, server::ControlSocket, Response};
use tandem::daemon::{plugin_dirs, Daemon};
use tandem::script_test;

/// Tandem: SIP voice next to your XMPP client, with Lua policy rules.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format (overrides `[log] format`).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The story in one command: a throwaway Prosody, alice calls bob, a
    /// contact sees both "On the phone", then back. Needs Prosody.
    Demo,
    /// Write a commented starting config at $XDG_CONFIG_HOME/tandem/tandem.toml
    /// (asking on a terminal for what the flags do not give); passwords go
    /// into files of their own beside it, mode 0600, never into the TOML.
    Init {
        /// Your XMPP address (alice@example.org).
        #[arg(long)]
        jid: Option<String>,
        /// Your SIP account's user name.
        #[arg(long)]
        sip_user: Option<String>,
        /// Your SIP provider's registrar (sip:sip.example.org); none: calls
        /// reach this machine's address only.
        #[arg(long)]
        registrar: Option<String>,
        /// Write here instead.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Replace an existing config.
        #[arg(long)]
        force: bool,
    },
    /// Start the host: load plugins and scripts, run until SIGINT/SIGTERM.
    Run {
        #[arg(short, long, default_value = "tandem.toml")]
        config: PathBuf,
    },
    /// Validate the config, every plugin section and every script.
    Check {
        #[arg(short, long, default_value = "tandem.toml")]
        config: PathBuf,
        /// Then log in to the XMPP server once (TLS as configured) and show
        /// the certificate it presents, in the form pin_sha256 takes. A
        /// refused login is not tried again.
        #[arg(long)]
        connect: bool,
    },
    /// List the plugins found in the plugin folders (and why any failed).
    Plugins {
        /// Use this config's plugin folders (default: ./tandem.toml if
        /// there is one, else the built-in folders).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Work with Lua rules.
    Script {
        #[command(subcommand)]
        command: ScriptCommand,
    },
    /// Talk to the running daemon over its control socket.
    Ctl {
        /// Find the socket through this config's `[host] control_socket`
        /// (default: ./tandem.toml if there is one).
        #[arg(short, long, global = true)]
        config: Option<PathBuf>,
        /// The socket itself (overrides --config).
        #[arg(long, global = true)]
        socket: Option<PathBuf>,
        /// Print the answer as JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: CtlCommand,
    },
}

#[derive(Subcommand)]
enum ScriptCommand {
    /// Run a rule against recorded events; print the commands it calls.
    Test {
        /// The rule (a .lua file).
        script: PathBuf,
        /// Recorded events, one JSON object per line.
        #[arg(short, long)]
        events: PathBuf,
        /// Take `[lua]` limits and `[scripts.<name>]` from this config
        /// (default: ./tandem.toml if there is one).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// One JSON object per output line.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => demo(),
        Command::Init {
            jid,
            sip_user,
            registrar,
            config,
            force,
        } => init(jid, sip_user, registrar, config, force),
        Command::Run { config } => run(&config, cli.log_format),
        Command::Check { config, connect } => check(&config, connect, cli.log_format),
        Command::Plugins { config, json } => plugins(config.as_deref(), json, cli.log_format),
        Command::Script {
            command:
                ScriptCommand::Test {
                    script,
                    events,
                    config,
                    json,
                },
        } => script_test_cmd(&script, &events, config.as_deref(), json, cli.log_format),
        Command::Ctl {
            config,
            socket,
            json,
            command,
        } => ctl(config.as_deref(), socket, json, &command),
    }
}

/// `tandem init`: the flags, else questions on a terminal; then the files.
fn init(
    jid: Option<String>,
    sip_user: Option<String>,
    registrar: Option<String>,
    config: Option<PathBuf>,
    force: bool,
) -> ExitCode {
    use std::io::IsTerminal;
    let terminal = std::io::stdin().is_terminal();
    let ask = |given: Option<String>, question: &str| -> Option<String> {
        given.or_else(|| {
            terminal
                .then(|| prompt(question, true))
                .filter(|a| !a.is_empty())
        })
    };
    let Some(jid) = ask(jid, "Your XMPP address (alice@example.org): ") else {
        eprintln!("error: give --jid (and --sip-user), or run tandem init on a terminal");
        return ExitCode::from(2);
    };
    let sip_user = ask(sip_user, "Your SIP user name: ").unwrap_or_default();
    let registrar = ask(
        registrar,
        "Your SIP provider's registrar (sip:sip.example.org; empty: none): ",
    );
    let secret = |question: &str| {
        terminal
            .then(|| prompt(question, false))
            .filter(|a| !a.is_empty())
    };
    let answers = tandem::init::Answers {
        xmpp_password: secret("Your XMPP password (not shown; empty: fill the file later): "),
        sip_password: secret("Your SIP password (not shown; empty: fill the file later): "),
        jid,
        sip_user,
        registrar,
    };
    let path = match config.map_or_else(tandem::init::default_path, Ok) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match tandem::init::write(&path, &answers, force) {
        Ok(written) => {
            for file in &written {
                println!("wrote {}", file.display());
            }
            println!(
                "Put any password not given into its file, then: tandem check --connect --config {} ; systemctl --user enable --now tandem",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Asks `question` on the terminal; `echo` false hides what is typed
/// (passwords).
fn prompt(question: &str, echo: bool) -> String {
    use std::io::Write as _;
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios they fill.
    let saved = (!echo).then(|| unsafe {
        let mut term: libc::termios = std::mem::zeroed();
        (libc::tcgetattr(0, &mut term) == 0).then(|| {
            let mut quiet = term;
            quiet.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &quiet);
            term
        })
    });
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if let Some(Some(term)) = saved {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &term) };
        eprintln!();
    }
    line.trim().to_owned()
}

fn demo() -> ExitCode {
    println!("tandem demo: alice calls bob; carol, their contact, watches their presence\n");
    match tandem::demo::run() {
        Ok(summary) => {
            let delays: Vec<String> = summary
                .presence_delay_ms
                .iter()
                .map(|(who, ms)| format!("{who} {ms:.1} ms"))
                .collect();
            println!(
                "\nAll {} steps passed. \"On the phone\" reached carol after the answer: {}.",
                summary.steps,
                delays.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(tandem::demo::DemoError::Interrupted) => {
            eprintln!("\ndemo interrupted");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// Set-up of the one-shot tools (`plugins`, `script test`): the config at
/// `path`, else `./tandem.toml` as `run` and `check` read, else the
/// built-in defaults; and logging of warnings only, so the tool's own
/// output stays readable.
fn load_for_tool(
    path: Option<&std::path::Path>,
    log_format: Option<LogFormat>,
) -> Result<Config, ExitCode> {
    let default = std::path::Path::new("tandem.toml");
    let config = match path {
        Some(path) => load_config(path)?,
        None if default.is_file() => load_config(default)?,
        None => Config::defaults(),
    };
    tandem::logging::init("warn", log_format.unwrap_or_default());
    Ok(config)
}

fn run(config_path: &std::path::Path, log_format: Option<LogFormat>) -> ExitCode {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    tandem::logging::init(&config.log.level, log_format.unwrap_or(config.log.format));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let socket_path = tandem::control::socket_for(&config);
    // Bind before starting anything: a second daemon must not start plugins.
    let control = match runtime.block_on(ControlSocket::bind(&socket_path)) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (daemon, report) = match Daemon::start(&config) {
        Ok(started) => started,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    for failure in &report.plugin_failures {
        tracing::error!("{failure}");
    }
    for failure in &report.script_failures {
        tracing::error!("{failure}");
    }
    tracing::info!(
        plugins = ?report.plugins.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        scripts = ?report.scripts,
        elapsed_ms = report.elapsed.as_secs_f64() * 1e3,
        "ready"
    );
    tracing::info!(socket = %control.path().display(), "tandem ctl listens");
    let timeout = tandem::lua::command_timeout(&config);
    let signal = runtime.block_on(async {
        tokio::select! {
            signal = wait_for_signal() => signal,
            () = control.serve(daemon.bus.clone(), timeout) => "control socket closed",
        }
    });
    drop(control);
    tracing::info!("{signal}: shutting down");
    daemon.shutdown();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return "interrupted";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

fn check(config_path: &std::path::Path, connect: bool, log_format: Option<LogFormat>) -> ExitCode {
    let report = tandem::check::check(config_path);
    for finding in &report.findings {
        match finding {
            Finding::Ok(text) => println!("ok     {text}"),
            Finding::Note(text) => println!("note   {text}"),
            Finding::Error(text) => println!("error  {text}"),
        }
    }
    let errors = report.errors();
    if errors == 0 && connect {
        return check_connect(config_path, log_format);
    }
    if errors == 0 {
        println!("all good");
        ExitCode::SUCCESS
    } else {
        println!("{errors} error{}", if errors == 1 { "" } else { "s" });
        ExitCode::FAILURE
    }
}

/// `tandem check --connect`, after a clean check: one login, its outcome
/// and the server's certificate.
fn check_connect(config_path: &std::path::Path, log_format: Option<LogFormat>) -> ExitCode {
    // The plugin's own warnings (a network failure) say what went wrong.
    tandem::logging::init("warn", log_format.unwrap_or_default());
    let wait = std::time::Duration::from_secs(20);
    let tried = match tandem::connect_check::check_connect(config_path, wait) {
        Ok(tried) => tried,
        Err(e) => {
            println!("error  {e}");
            return ExitCode::FAILURE;
        }
    };
    let lines = tandem::connect_check::describe(&tried);
    for (error, text) in &lines {
        println!("{}  {text}", if *error { "error" } else { "ok   " });
    }
    if lines.iter().any(|(error, _)| *error) {
        ExitCode::FAILURE
    } else {
        println!("all good");
        ExitCode::SUCCESS
    }
}

fn plugins(
    config_path: Option<&std::path::Path>,
    json: bool,
    log_format: Option<LogFormat>,
) -> ExitCode {
    let config = match load_for_tool(config_path, log_format) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let dirs = plugin_dirs(&config);
    let discovery = tandem::plugins::discover(&dirs);
    if json {
        let loaded: Vec<_> = discovery
            .loaded
            .iter()
            .map(|l| serde_json::json!({"file": l.path, "manifest": l.manifest}))
            .collect();
        let failed: Vec<_> = discovery
            .failed
            .iter()
            .map(|f| serde_json::json!({"file": f.path, "error": f.error.to_string()}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"dirs": dirs, "plugins": loaded, "failed": failed, "host_sdk": tandem_sdk::SDK_VERSION})
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "plugin folders: {}",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("host SDK {}", tandem_sdk::SDK_VERSION);
    for library in &discovery.loaded {
        let m = &library.manifest;
        println!(
            "\n{} {}  (SDK {})  {}",
            m.id,
            m.version,
            m.sdk_version,
            library.path.display()
        );
        if !m.description.is_empty() {
            println!("    {}", m.description);
        }
        println!("    capabilities: {}", join_or_dash(&m.capabilities));
        println!("    commands:     {}", join_or_dash(&m.commands));
        println!("    events:       {}", join_or_dash(&m.events));
        println!("    config:       [plugins.{}]", m.config_section);
    }
    for failure in &discovery.failed {
        println!("\nFAILED {}\n    {}", failure.path.display(), failure.error);
    }
    if discovery.loaded.is_empty() && discovery.failed.is_empty() {
        println!("\nno plugins found");
    }
    ExitCode::SUCCESS
}

fn join_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

fn script_test_cmd(
    script: &std::path::Path,
    events: &std::path::Path,
    config_path: Option<&std::path::Path>,
    json: bool,
    log_format: Option<LogFormat>,
) -> ExitCode {
    let config = match load_for_tool(config_path, log_format) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let format = if json {
        script_test::Format::Json
    } else {
        script_test::Format::Text
    };
    match script_test::run(script, events, &config, format, Box::new(std::io::stdout())) {
        Ok(outcome) if outcome.errors == 0 => ExitCode::SUCCESS,
        Ok(outcome) => {
            eprintln!("{} script error(s)", outcome.errors);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `tandem ctl`: one request, the answer printed; exit 1 if the command
/// failed, 2 if the daemon could not be reached or the input was bad.
fn ctl(
    config: Option<&std::path::Path>,
    socket: Option<PathBuf>,
    json: bool,
    command: &CtlCommand,
) -> ExitCode {
    // Like the other commands: ./tandem.toml when no --config is given.
    let default = std::path::Path::new("tandem.toml");
    let config = config.or_else(|| default.is_file().then_some(default));
    let (socket, timeout) = match (socket, config) {
        (Some(socket), _) => (socket, std::time::Duration::from_secs(6)),
        (None, Some(path)) => match load_config(path) {
            Ok(config) => (
                tandem::control::socket_for(&config),
                tandem::lua::command_timeout(&config) + std::time::Duration::from_secs(1),
            ),
            Err(code) => return code,
        },
        (None, None) => (
            tandem::control::default_socket(),
            std::time::Duration::from_secs(6),
        ),
    };
    let (name, args) = match command.request() {
        Ok(request) => request,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let answer = match client::request(&socket, &name, args, timeout) {
        Ok(Response::Ok(value)) => value,
        Ok(Response::Error { kind, message }) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": {"kind": kind, "message": message}})
                );
            } else {
                eprintln!("error: {name}: {kind}: {message}");
            }
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(command, CtlCommand::Transfers) && !json {
        print!("{}", tandem::control::commands::render_transfers(&answer));
        return ExitCode::SUCCESS;
    }
    if matches!(command, CtlCommand::Calls) && !json {
        print!("{}", tandem::control::calls::render_calls(&answer));
        return ExitCode::SUCCESS;
    }
    if !matches!(command, CtlCommand::Status) {
        if json {
            println!("{answer}");
        } else {
            println!("{}", tandem::control::commands::compact(&answer));
        }
        return ExitCode::SUCCESS;
    }
    // Status: the host's view plus whatever the plugins report of themselves.
    let mut plugins = Vec::new();
    for name in PLUGIN_STATUS {
        if let Ok(Response::Ok(value)) =
            client::request(&socket, name, serde_json::json!({}), timeout)
        {
            plugins.push((name.to_owned(), value));
        }
    }
    if json {
        let mut all = answer;
        for (name, value) in plugins {
            all[name] = value;
        }
        println!("{all}");
    } else {
        print!("{}", render_status(&answer, &plugins));
    }
    ExitCode::SUCCESS
}
