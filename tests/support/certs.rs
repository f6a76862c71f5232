//! A throwaway CA and a certificate it signed for `localhost` and
//! 127.0.0.1, made with the openssl command (TLS clients refuse a
//! self-signed certificate that is its own CA). Written into a folder as
//! `ca.pem`, `server.pem`, `server.key`.

use std::path::Path;
use std::process::Command;

/// Makes the CA and the server certificate in `dir`.
pub fn make(dir: &Path) {
    let openssl = |args: &[&str]| {
        crate::run_checked(
            Command::new("openssl").current_dir(dir).args(args),
            "openssl",
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    // Each CA named for its folder: two test CAs with one name make a TLS
    // client report a bad signature instead of an unknown issuer.
    let folder = dir.file_name().map_or("".into(), |f| f.to_string_lossy());
    let subject = format!("/CN=Tandem test CA {folder}");
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", &subject];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(&ca);
    let mut csr = vec!["req", "-subj", "/CN=localhost"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(&csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n\
         extendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
}

/// Replaces the server certificate in `dir` with one made as
/// `prosodyctl cert generate` makes it: self-signed and marked as a CA
/// (openssl's default `basicConstraints=CA:TRUE`), for `localhost`.
/// Answers its SHA-256 fingerprint as openssl prints it (`AB:CD:…`).
pub fn make_ca_marked(dir: &Path) -> String {
    crate::run_checked(
        Command::new("openssl").current_dir(dir).args([
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.pem",
        ]),
        "openssl",
    );
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            "server.pem",
        ])
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .rsplit('=')
        .next()
        .expect("sha256 Fingerprint=…")
        .to_owned()
}
