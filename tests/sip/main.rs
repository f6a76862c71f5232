//! The SIP plugin against real peers on loopback: sipp's own scenarios,
//! baresip and Kamailio, each started by the test. One module per concern;
//! helpers more than one of them use live here.

mod admission;
mod audio;
mod calls;
mod logging;
mod messages;
mod registration;
mod transport;

use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;

const AUTO_ANSWER: &str = "\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n";

fn scenario(name: &str) -> String {
    sipp::scenario_path(name)
}

/// A sidecar registering as `user` with the registrar on loopback `port`.
fn registering(user: &str, port: &str, password: &str) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = {user:?}\nregistrar = \"sip:127.0.0.1:{port}\"\npassword = {password:?}\n"
        ),
        &[],
    )
}
