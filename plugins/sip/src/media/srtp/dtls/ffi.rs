//! The few functions of the system's OpenSSL 3 (`libssl.so.3`,
//! `libcrypto.so.3`, Debian's `libssl3`) that DTLS-SRTP needs, loaded at
//! run time as `media/opus.rs` loads libopus: no headers, no build script,
//! and a machine without the library still runs Tandem, only without
//! DTLS-SRTP (decision 0076). The handful of `ssl.h` macros we use are
//! expanded here as the header defines them (`SSL_ctrl` with a command).

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use std::sync::OnceLock;

const LIBSSL: &str = "libssl.so.3";
const LIBCRYPTO: &str = "libcrypto.so.3";

/// `ssl.h`: `SSL_ctrl` commands behind the macros we use.
pub const SSL_CTRL_SET_MTU: c_int = 17;
pub const DTLS_CTRL_GET_TIMEOUT: c_int = 73;
pub const DTLS_CTRL_HANDLE_TIMEOUT: c_int = 74;
/// `SSL_OP_NO_QUERY_MTU`: a memory BIO has no MTU to ask; we set one.
pub const SSL_OP_NO_QUERY_MTU: u64 = 1 << 12;
pub const SSL_VERIFY_PEER: c_int = 0x01;
pub const SSL_VERIFY_FAIL_IF_NO_PEER_CERT: c_int = 0x02;
pub const SSL_ERROR_WANT_READ: c_int = 2;
/// `asn1.h`: MBSTRING_ASC.
pub const MBSTRING_ASC: c_int = 0x1001;

/// `struct timeval` on Linux (64-bit `time_t` and `suseconds_t`).
#[repr(C)]
#[derive(Default)]
pub struct Timeval {
    pub tv_sec: c_long,
    pub tv_usec: c_long,
}

/// `SRTP_PROTECTION_PROFILE` (srtp.h).
#[repr(C)]
pub struct SrtpProfile {
    pub name: *const c_char,
    pub id: c_ulong,
}

pub type Ptr = *mut c_void;
pub type VerifyCallback = extern "C" fn(c_int, Ptr) -> c_int;
pub type TimerCallback = extern "C" fn(Ptr, c_uint) -> c_uint;

macro_rules! library {
    (($ssl:ident, $crypto:ident) $($field:ident: $symbol:literal in $lib:ident = fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// OpenSSL's entry points, resolved once.
        pub struct Library {
            $(pub $field: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
            /// Kept loaded for the life of the process, with the pointers.
            _ssl: libloading::Library,
            _crypto: libloading::Library,
        }

        fn load() -> Result<Library, Unavailable> {
            // SAFETY: OpenSSL 3's initialisers only set up its own state;
            // each symbol is declared with its header's signature.
            unsafe {
                let $crypto = libloading::Library::new(LIBCRYPTO)
                    .map_err(|_| Unavailable::Missing(LIBCRYPTO))?;
                let $ssl = libloading::Library::new(LIBSSL)
                    .map_err(|_| Unavailable::Missing(LIBSSL))?;
                Ok(Library {
                    $($field: *$lib
                        .get(concat!($symbol, "\0").as_bytes())
                        .map_err(|_| Unavailable::Symbol($symbol))?,)*
                    _ssl: $ssl,
                    _crypto: $crypto,
                })
            }
        }
    };
}

library! {
    (ssl, crypto)
    dtls_method: "DTLS_method" in ssl = fn() -> Ptr;
    ctx_new: "SSL_CTX_new" in ssl = fn(Ptr) -> Ptr;
    ctx_use_certificate: "SSL_CTX_use_certificate" in ssl = fn(Ptr, Ptr) -> c_int;
    ctx_use_private_key: "SSL_CTX_use_PrivateKey" in ssl = fn(Ptr, Ptr) -> c_int;
    ctx_set_verify: "SSL_CTX_set_verify" in ssl = fn(Ptr, c_int, Option<VerifyCallback>);
    ctx_set_options: "SSL_CTX_set_options" in ssl = fn(Ptr, u64) -> u64;
    ctx_use_srtp: "SSL_CTX_set_tlsext_use_srtp" in ssl = fn(Ptr, *const c_char) -> c_int;
    ssl_new: "SSL_new" in ssl = fn(Ptr) -> Ptr;
    ssl_free: "SSL_free" in ssl = fn(Ptr);
    set_bio: "SSL_set_bio" in ssl = fn(Ptr, Ptr, Ptr);
    set_timer_cb: "DTLS_set_timer_cb" in ssl = fn(Ptr, Option<TimerCallback>);
    set_connect_state: "SSL_set_connect_state" in ssl = fn(Ptr);
    set_accept_state: "SSL_set_accept_state" in ssl = fn(Ptr);
    do_handshake: "SSL_do_handshake" in ssl = fn(Ptr) -> c_int;
    get_error: "SSL_get_error" in ssl = fn(Ptr, c_int) -> c_int;
    ctrl: "SSL_ctrl" in ssl = fn(Ptr, c_int, c_long, Ptr) -> c_long;
    read: "SSL_read" in ssl = fn(Ptr, *mut u8, c_int) -> c_int;
    selected_srtp_profile: "SSL_get_selected_srtp_profile" in ssl = fn(Ptr) -> *const SrtpProfile;
    export_keying_material: "SSL_export_keying_material" in ssl =
        fn(Ptr, *mut u8, usize, *const c_char, usize, *const u8, usize, c_int) -> c_int;
    peer_certificate: "SSL_get1_peer_certificate" in ssl = fn(Ptr) -> Ptr;
    bio_s_mem: "BIO_s_mem" in crypto = fn() -> Ptr;
    bio_new: "BIO_new" in crypto = fn(Ptr) -> Ptr;
    bio_write: "BIO_write" in crypto = fn(Ptr, *const u8, c_int) -> c_int;
    bio_read: "BIO_read" in crypto = fn(Ptr, *mut u8, c_int) -> c_int;
    bio_pending: "BIO_ctrl_pending" in crypto = fn(Ptr) -> usize;
    pkey_ctx_new: "EVP_PKEY_CTX_new_from_name" in crypto = fn(Ptr, *const c_char, *const c_char) -> Ptr;
    pkey_ctx_free: "EVP_PKEY_CTX_free" in crypto = fn(Ptr);
    keygen_init: "EVP_PKEY_keygen_init" in crypto = fn(Ptr) -> c_int;
    set_group_name: "EVP_PKEY_CTX_set_group_name" in crypto = fn(Ptr, *const c_char) -> c_int;
    generate: "EVP_PKEY_generate" in crypto = fn(Ptr, *mut Ptr) -> c_int;
    pkey_free: "EVP_PKEY_free" in crypto = fn(Ptr);
    sha256: "EVP_sha256" in crypto = fn() -> Ptr;
    x509_new: "X509_new" in crypto = fn() -> Ptr;
    x509_free: "X509_free" in crypto = fn(Ptr);
    x509_set_version: "X509_set_version" in crypto = fn(Ptr, c_long) -> c_int;
    x509_serial: "X509_get_serialNumber" in crypto = fn(Ptr) -> Ptr;
    asn1_integer_set: "ASN1_INTEGER_set" in crypto = fn(Ptr, c_long) -> c_int;
    x509_not_before: "X509_getm_notBefore" in crypto = fn(Ptr) -> Ptr;
    x509_not_after: "X509_getm_notAfter" in crypto = fn(Ptr) -> Ptr;
    gmtime_adj: "X509_gmtime_adj" in crypto = fn(Ptr, c_long) -> Ptr;
    x509_set_pubkey: "X509_set_pubkey" in crypto = fn(Ptr, Ptr) -> c_int;
    x509_subject: "X509_get_subject_name" in crypto = fn(Ptr) -> Ptr;
    name_add_entry: "X509_NAME_add_entry_by_txt" in crypto =
        fn(Ptr, *const c_char, c_int, *const u8, c_int, c_int, c_int) -> c_int;
    x509_set_issuer: "X509_set_issuer_name" in crypto = fn(Ptr, Ptr) -> c_int;
    x509_sign: "X509_sign" in crypto = fn(Ptr, Ptr, Ptr) -> c_int;
    x509_digest: "X509_digest" in crypto = fn(Ptr, Ptr, *mut u8, *mut c_uint) -> c_int;
    err_get: "ERR_get_error" in crypto = fn() -> c_ulong;
    err_clear: "ERR_clear_error" in crypto = fn();
    err_string: "ERR_error_string_n" in crypto = fn(c_ulong, *mut c_char, usize);
}

/// Why DTLS-SRTP cannot run on this machine.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Unavailable {
    #[error("DTLS-SRTP unavailable: {0} not found (install libssl3)")]
    Missing(&'static str),
    #[error("DTLS-SRTP unavailable: OpenSSL lacks {0} (OpenSSL 3 is needed)")]
    Symbol(&'static str),
}

/// The library, loaded on first use; the same answer ever after.
pub fn library() -> Result<&'static Library, Unavailable> {
    static LOADED: OnceLock<Result<Library, Unavailable>> = OnceLock::new();
    LOADED.get_or_init(load).as_ref().map_err(Clone::clone)
}

impl Library {
    /// OpenSSL's queued errors, oldest first, in its own words (emptied:
    /// the queue is per thread and would otherwise blame the next call).
    pub fn errors(&self) -> String {
        let mut out = Vec::new();
        loop {
            // SAFETY: reads and pops this thread's error queue.
            let code = unsafe { (self.err_get)() };
            if code == 0 {
                break;
            }
            let mut buf = [0 as c_char; 256];
            // SAFETY: `buf` holds 256 bytes; OpenSSL NUL-terminates.
            let text = unsafe {
                (self.err_string)(code, buf.as_mut_ptr(), buf.len());
                std::ffi::CStr::from_ptr(buf.as_ptr())
            };
            out.push(text.to_string_lossy().into_owned());
        }
        if out.is_empty() {
            "no detail from OpenSSL".to_owned()
        } else {
            out.join("; ")
        }
    }
}
