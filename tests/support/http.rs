//! One HTTP/1.1 request to a plain `http://127.0.0.1:port/...` URL (the
//! test Prosody's file share, a test's file server), by hand: what a
//! user's client does with a shared file's URL, without an HTTP library.

use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends `method` to `url` with `headers` and `body`; answers the status
/// line and the body.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("a plain HTTP URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, answer[split + 4..].to_vec())
}
