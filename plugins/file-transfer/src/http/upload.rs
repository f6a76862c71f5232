//! Uploading a downloaded file to the user's XMPP server: an HTTP PUT to a
//! XEP-0363 slot with the slot's headers, the body streamed from disk.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use hyper::Method;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_rustls::rustls::ClientConfig;

use super::{request, send, TIMEOUT};
use crate::error::TransferError;
use crate::url::Url;

/// Bytes read from disk at a time.
const CHUNK: usize = 64 * 1024;

/// PUTs `path` (`size` bytes) to `put_url` with `headers`.
pub async fn put(
    put_url: &str,
    headers: &[(String, String)],
    content_type: &str,
    path: &Path,
    size: u64,
    tls: &Arc<ClientConfig>,
) -> Result<(), TransferError> {
    let url = Url::parse(put_url)?;
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| TransferError::Disk { dir, source })?;
    let mut builder = request(Method::PUT, &url)
        .header(hyper::header::CONTENT_LENGTH, size)
        .header(hyper::header::CONTENT_TYPE, content_type);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let broken = |detail: String| TransferError::Broken {
        host: url.host.clone(),
        detail,
    };
    let req = builder
        .body(FileBody { file, left: size })
        .map_err(|e| broken(e.to_string()))?;
    // Time to send it all at a slow 64 kB/s, then the usual wait.
    let within = TIMEOUT + Duration::from_secs(size / (64 * 1024));
    let response = send(&url, tls, req, within).await?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(TransferError::Upload {
            code: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
        })
    }
}

/// A file as a request body, read a chunk at a time, exactly `left` bytes
/// (the Content-Length sent): a file that changed size is an error, not a
/// request that lies about its length.
struct FileBody {
    file: tokio::fs::File,
    left: u64,
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let want = CHUNK.min(usize::try_from(self.left).unwrap_or(CHUNK));
        let mut buf = vec![0u8; want];
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut self.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file got shorter while it was uploaded",
                    ))));
                }
                self.left -= n as u64;
                buf.truncate(n);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}
