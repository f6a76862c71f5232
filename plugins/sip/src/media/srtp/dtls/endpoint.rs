//! One DTLS endpoint (an OpenSSL `SSL`) over two memory BIOs, without I/O
//! of its own: datagrams from the peer go in with [`Endpoint::receive`],
//! what it wants sent comes out of [`Endpoint::outgoing`], and the caller
//! keeps its retransmission timer. So the handshake runs on the call's own
//! RTP socket, demultiplexed there (RFC 7983), and can be tested with two
//! ends in memory.

use std::ffi::{c_int, c_uint};
use std::time::Duration;

use super::attributes::{Fingerprint, Role};
use super::certificate::{digest, Identity};
use super::ffi::{self, Library, Ptr, Timeval};
use super::keys::{self, SrtpKeys, MATERIAL_LEN};
use super::DtlsError;
use crate::media::srtp::Suite;

/// The largest datagram OpenSSL may write: well under any path MTU, as
/// RTP's own packets are.
const MTU: i64 = 1200;
/// RFC 5764 §4.2's exporter label.
const EXPORTER_LABEL: &[u8] = b"EXTRACTOR-dtls_srtp";
/// `srtp.h`: the profiles' numbers.
const SRTP_AES128_CM_SHA1_80: std::ffi::c_ulong = 0x0001;
const SRTP_AES128_CM_SHA1_32: std::ffi::c_ulong = 0x0002;
/// The first retransmission timer, then doubled up to the cap. OpenSSL's
/// own is RFC 6347's 1 s, but a peer that offered `actpass` often drops
/// our ClientHello when it comes before our answer has reached it
/// (baresip does): a second of silence at the start of every such call.
const FIRST_RESEND_US: c_uint = 250_000;
const MAX_RESEND_US: c_uint = 4_000_000;

/// OpenSSL's retransmission timer (`DTLS_set_timer_cb`): called with 0
/// when a flight starts, with the last value when it ran out.
extern "C" fn resend_after(_ssl: Ptr, last_us: c_uint) -> c_uint {
    if last_us == 0 {
        FIRST_RESEND_US
    } else {
        last_us.saturating_mul(2).min(MAX_RESEND_US)
    }
}

pub struct Endpoint {
    lib: &'static Library,
    ssl: Ptr,
    /// What the peer sent, for OpenSSL to read (owned by `ssl`).
    inbox: Ptr,
    /// What OpenSSL wrote, for us to send (owned by `ssl`).
    outbox: Ptr,
    role: Role,
    done: bool,
}

// SAFETY: an SSL object has no thread affinity; `&mut self` keeps its use
// to one thread at a time. OpenSSL's error queue is per thread, and we
// read it on the thread that failed, before any await.
unsafe impl Send for Endpoint {}

impl Endpoint {
    pub fn new(identity: &'static Identity, role: Role) -> Result<Endpoint, DtlsError> {
        let lib = identity.lib;
        // SAFETY: the context is live for the process; each new object is
        // checked, and from SSL_set_bio on the SSL owns both BIOs.
        unsafe {
            let ssl = (lib.ssl_new)(identity.context);
            if ssl.is_null() {
                return Err(DtlsError::Setup("starting a handshake", lib.errors()));
            }
            let inbox = (lib.bio_new)((lib.bio_s_mem)());
            let outbox = (lib.bio_new)((lib.bio_s_mem)());
            if inbox.is_null() || outbox.is_null() {
                (lib.ssl_free)(ssl);
                return Err(DtlsError::Setup("starting a handshake", lib.errors()));
            }
            (lib.set_bio)(ssl, inbox, outbox);
            // SSL_set_mtu(ssl, MTU)
            (lib.ctrl)(ssl, ffi::SSL_CTRL_SET_MTU, MTU as _, std::ptr::null_mut());
            (lib.set_timer_cb)(ssl, Some(resend_after));
            match role {
                Role::Client => (lib.set_connect_state)(ssl),
                Role::Server => (lib.set_accept_state)(ssl),
            }
            Ok(Endpoint {
                lib,
                ssl,
                inbox,
                outbox,
                role,
                done: false,
            })
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Moves the handshake on as far as it can go; `true` once it is done.
    /// The client's first call writes its ClientHello.
    pub fn drive(&mut self) -> Result<bool, DtlsError> {
        if self.done {
            return Ok(true);
        }
        // SAFETY: a live SSL with its BIOs. The thread's error queue is
        // emptied first: another call's task on this worker thread may
        // have left an error there, and SSL_get_error would read it as
        // this handshake's failure.
        let status = unsafe {
            (self.lib.err_clear)();
            (self.lib.do_handshake)(self.ssl)
        };
        if status == 1 {
            self.done = true;
            return Ok(true);
        }
        // SAFETY: as above; `status` is do_handshake's own.
        match unsafe { (self.lib.get_error)(self.ssl, status) } {
            ffi::SSL_ERROR_WANT_READ => Ok(false),
            _ => Err(DtlsError::Handshake(self.lib.errors())),
        }
    }

    /// One datagram from the peer. Before the handshake is done it moves
    /// the handshake on; after, it lets OpenSSL answer a peer that resends
    /// its last flight because ours was lost (RFC 6347 §4.2.4).
    pub fn receive(&mut self, datagram: &[u8]) -> Result<bool, DtlsError> {
        let len = c_int::try_from(datagram.len()).unwrap_or(c_int::MAX);
        // SAFETY: `datagram` holds `len` bytes; a memory BIO copies them.
        unsafe { (self.lib.bio_write)(self.inbox, datagram.as_ptr(), len) };
        if !self.done {
            return self.drive();
        }
        let mut scratch = [0u8; 2048];
        // SAFETY: `scratch` holds its length. Application data is not
        // expected on an SRTP association: whatever comes is discarded.
        unsafe {
            (self.lib.err_clear)();
            (self.lib.read)(self.ssl, scratch.as_mut_ptr(), scratch.len() as c_int)
        };
        self.lib.errors();
        Ok(true)
    }

    /// What OpenSSL wrote since last asked, as one datagram (a flight's
    /// records side by side, as RFC 6347 §4.1.1 allows), if anything.
    pub fn outgoing(&mut self) -> Option<Vec<u8>> {
        // SAFETY: a live memory BIO.
        let pending = unsafe { (self.lib.bio_pending)(self.outbox) };
        if pending == 0 {
            return None;
        }
        let mut out = vec![0u8; pending];
        let len = c_int::try_from(pending).unwrap_or(c_int::MAX);
        // SAFETY: `out` holds `pending` bytes.
        let read = unsafe { (self.lib.bio_read)(self.outbox, out.as_mut_ptr(), len) };
        out.truncate(usize::try_from(read).unwrap_or(0));
        (!out.is_empty()).then_some(out)
    }

    /// How long until OpenSSL wants to resend its flight, while it waits
    /// for the peer's (`DTLSv1_get_timeout`).
    pub fn timeout(&self) -> Option<Duration> {
        let mut left = Timeval::default();
        // SAFETY: DTLS_CTRL_GET_TIMEOUT writes one struct timeval.
        let running = unsafe {
            (self.lib.ctrl)(
                self.ssl,
                ffi::DTLS_CTRL_GET_TIMEOUT,
                0,
                (&mut left as *mut Timeval).cast(),
            )
        };
        (running == 1).then(|| {
            Duration::from_secs(left.tv_sec.max(0) as u64)
                + Duration::from_micros(left.tv_usec.max(0) as u64)
        })
    }

    /// The timer ran out: OpenSSL resends its last flight
    /// (`DTLSv1_handle_timeout`), with a doubled timer.
    pub fn on_timeout(&mut self) -> Result<(), DtlsError> {
        // SAFETY: DTLS_CTRL_HANDLE_TIMEOUT takes no argument.
        let status = unsafe {
            (self.lib.ctrl)(
                self.ssl,
                ffi::DTLS_CTRL_HANDLE_TIMEOUT,
                0,
                std::ptr::null_mut(),
            )
        };
        if status < 0 {
            return Err(DtlsError::Handshake(self.lib.errors()));
        }
        Ok(())
    }

    /// Once the handshake is done: the peer's certificate checked against
    /// the fingerprint its SDP gave (RFC 5763 §5; nothing else vouches for
    /// a self-signed certificate), then the SRTP suite and keys it agreed.
    pub fn keys(&self, expected: &Fingerprint) -> Result<SrtpKeys, DtlsError> {
        if !self.done {
            return Err(DtlsError::Handshake("not finished".to_owned()));
        }
        let lib = self.lib;
        // SAFETY: a finished handshake; the certificate we get a reference
        // to is freed here, the profile belongs to the SSL.
        unsafe {
            let certificate = (lib.peer_certificate)(self.ssl);
            if certificate.is_null() {
                return Err(DtlsError::NoCertificate);
            }
            let seen = digest(lib, certificate);
            (lib.x509_free)(certificate);
            if seen.as_ref() != Some(expected) {
                return Err(DtlsError::FingerprintMismatch);
            }
            let profile = (lib.selected_srtp_profile)(self.ssl);
            let suite = match profile.as_ref().map(|p| p.id) {
                Some(SRTP_AES128_CM_SHA1_80) => Suite::AesCm128HmacSha1_80,
                Some(SRTP_AES128_CM_SHA1_32) => Suite::AesCm128HmacSha1_32,
                _ => return Err(DtlsError::NoSrtpProfile),
            };
            let mut material = [0u8; MATERIAL_LEN];
            let exported = (lib.export_keying_material)(
                self.ssl,
                material.as_mut_ptr(),
                material.len(),
                EXPORTER_LABEL.as_ptr().cast(),
                EXPORTER_LABEL.len(),
                std::ptr::null(),
                0,
                0,
            );
            if exported != 1 {
                return Err(DtlsError::Handshake(lib.errors()));
            }
            Ok(keys::split(suite, &material, self.role))
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // SAFETY: ours, freed once; it frees both BIOs.
        unsafe { (self.lib.ssl_free)(self.ssl) };
    }
}
