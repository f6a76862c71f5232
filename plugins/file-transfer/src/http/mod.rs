//! HTTP/1.1 over TCP or TLS, one connection per request: what a file
//! download (GET, following redirects) and an upload (PUT) need, on hyper
//! and the rustls the other plugins already carry.

pub mod download;
pub mod upload;

use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{pki_types::ServerName, ClientConfig};
use tokio_rustls::TlsConnector;

use crate::error::TransferError;
use crate::url::Url;

/// How long connecting, the TLS handshake and the answer's head may take,
/// each; and how long the body may stay silent.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `request` to `url`'s server on a new connection and answers the
/// response head (its body streams as it is read), which must come within
/// `head_within` of the start (for a PUT, that includes sending the body).
pub async fn send<B>(
    url: &Url,
    tls: &Arc<ClientConfig>,
    request: Request<B>,
    head_within: Duration,
) -> Result<Response<Incoming>, TransferError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let host = url.host.clone();
    let timeout = |_| TransferError::Timeout {
        host: host.clone(),
        seconds: TIMEOUT.as_secs(),
    };
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((url.host.as_str(), url.port)))
        .await
        .map_err(timeout)?
        .map_err(|source| TransferError::Connect {
            host: url.authority(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let response = if url.secure {
        let name = ServerName::try_from(url.host.clone()).map_err(|e| TransferError::Tls {
            host: host.clone(),
            detail: e.to_string(),
        })?;
        let stream =
            tokio::time::timeout(TIMEOUT, TlsConnector::from(tls.clone()).connect(name, tcp))
                .await
                .map_err(timeout)?
                .map_err(|e| TransferError::Tls {
                    host: host.clone(),
                    detail: tls_words(&e),
                })?;
        exchange(TokioIo::new(stream), &host, request, head_within).await?
    } else {
        exchange(TokioIo::new(tcp), &host, request, head_within).await?
    };
    Ok(response)
}

/// A failed handshake, in words for the user.
fn tls_words(e: &std::io::Error) -> String {
    match crate::tls::failure(e) {
        crate::tls::Failure::Untrusted(why) => format!("its certificate {why}"),
        crate::tls::Failure::NotTls => {
            "it does not answer in TLS on that port (an http:// address given as https://?)".into()
        }
        crate::tls::Failure::Other(why) => why,
    }
}

async fn exchange<IO, B>(
    io: IO,
    host: &str,
    request: Request<B>,
    head_within: Duration,
) -> Result<Response<Incoming>, TransferError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let broken = |e: hyper::Error| TransferError::Broken {
        host: host.to_owned(),
        detail: e.to_string(),
    };
    let (mut sender, connection) = http1::handshake(io).await.map_err(broken)?;
    // The connection runs beside the request; it ends with the body.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    tokio::time::timeout(head_within, sender.send_request(request))
        .await
        .map_err(|_| TransferError::Timeout {
            host: host.to_owned(),
            seconds: head_within.as_secs(),
        })?
        .map_err(broken)
}

/// A request with the headers every one of ours carries.
pub fn request(method: hyper::Method, url: &Url) -> hyper::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(url.path.as_str())
        .header(hyper::header::HOST, url.authority())
        .header(
            hyper::header::USER_AGENT,
            concat!("Tandem/", env!("CARGO_PKG_VERSION")),
        )
}
