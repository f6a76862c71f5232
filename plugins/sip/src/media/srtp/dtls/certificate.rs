//! Our DTLS identity: an ECDSA P-256 key and a self-signed certificate,
//! made once per process (RFC 5763 §5: the SDP's fingerprint, not a CA,
//! vouches for it), held in one OpenSSL context that every call's
//! handshake is made from.

use std::ffi::{c_int, c_uint, CStr};
use std::sync::OnceLock;

use super::attributes::Fingerprint;
use super::ffi::{self, Library, Ptr};
use super::DtlsError;

/// The SRTP protection profiles we offer in the handshake (RFC 5764
/// §4.1.2), the two SDES suites we speak, the stronger tag first.
const SRTP_PROFILES: &CStr = c"SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32";
/// A year: the certificate is made once per process and a sidecar runs
/// for months; most peers ignore a DTLS certificate's dates, but one that
/// checks them must not meet an expired one after a month of uptime.
const VALID_SECONDS: i64 = 365 * 24 * 3600;

/// The process's DTLS context (`SSL_CTX`) with its key and certificate.
pub struct Identity {
    pub(super) lib: &'static Library,
    pub(super) context: Ptr,
    pub fingerprint: Fingerprint,
}

// SAFETY: an SSL_CTX is safe to share once set up (OpenSSL locks its
// reference counts); we never change it after `make`.
unsafe impl Send for Identity {}
unsafe impl Sync for Identity {}

/// The identity, made on first use; the same answer ever after.
pub fn identity() -> Result<&'static Identity, DtlsError> {
    static MADE: OnceLock<Result<Identity, DtlsError>> = OnceLock::new();
    MADE.get_or_init(make).as_ref().map_err(Clone::clone)
}

/// The verify callback: any chain is taken here. The certificate is
/// checked against the SDP's fingerprint once the handshake is done, as
/// RFC 5763 §6.10 has it; a self-signed one could never pass a chain check.
extern "C" fn accept_any_chain(_preverify_ok: c_int, _store: Ptr) -> c_int {
    1
}

fn make() -> Result<Identity, DtlsError> {
    let lib = ffi::library()?;
    let failed = |what: &'static str| DtlsError::Setup(what, lib.errors());
    // SAFETY: each call gets live objects from the calls before it, checked
    // for null; what we own is freed below on every path.
    unsafe {
        let key = generate_key(lib).ok_or_else(|| failed("making a P-256 key"))?;
        let certificate = self_signed(lib, key);
        let Some(certificate) = certificate else {
            (lib.pkey_free)(key);
            return Err(failed("making the certificate"));
        };
        let result = context_with(lib, key, certificate);
        (lib.pkey_free)(key);
        let fingerprint = digest(lib, certificate);
        (lib.x509_free)(certificate);
        let context = result.ok_or_else(|| failed("setting up DTLS"))?;
        let fingerprint = fingerprint.ok_or_else(|| failed("hashing the certificate"))?;
        Ok(Identity {
            lib,
            context,
            fingerprint,
        })
    }
}

/// An EC key on P-256 (`EVP_EC_gen("P-256")`, spelled out: that macro
/// calls a variadic function).
unsafe fn generate_key(lib: &Library) -> Option<Ptr> {
    // SAFETY: the caller passes live objects; see each call.
    unsafe {
        let ctx = (lib.pkey_ctx_new)(std::ptr::null_mut(), c"EC".as_ptr(), std::ptr::null());
        if ctx.is_null() {
            return None;
        }
        let mut key: Ptr = std::ptr::null_mut();
        let ok = (lib.keygen_init)(ctx) == 1
            && (lib.set_group_name)(ctx, c"P-256".as_ptr()) == 1
            && (lib.generate)(ctx, &mut key) == 1;
        (lib.pkey_ctx_free)(ctx);
        (ok && !key.is_null()).then_some(key)
    }
}

/// A version 3 certificate for `key`, subject and issuer `CN=tandem`,
/// a random serial, valid from a day ago (clocks differ) for a month,
/// signed with ECDSA-SHA256.
unsafe fn self_signed(lib: &Library, key: Ptr) -> Option<Ptr> {
    // SAFETY: the caller passes live objects; see each call.
    unsafe {
        let cert = (lib.x509_new)();
        if cert.is_null() {
            return None;
        }
        let serial = (rand::random::<u32>() >> 1) as std::ffi::c_long;
        let name = (lib.x509_subject)(cert);
        let cn = b"tandem";
        let ok = (lib.x509_set_version)(cert, 2) == 1
            && (lib.asn1_integer_set)((lib.x509_serial)(cert), serial) == 1
            && !(lib.gmtime_adj)((lib.x509_not_before)(cert), -24 * 3600).is_null()
            && !(lib.gmtime_adj)((lib.x509_not_after)(cert), VALID_SECONDS as _).is_null()
            && (lib.x509_set_pubkey)(cert, key) == 1
            && !name.is_null()
            && (lib.name_add_entry)(
                name,
                c"CN".as_ptr(),
                ffi::MBSTRING_ASC,
                cn.as_ptr(),
                cn.len() as c_int,
                -1,
                0,
            ) == 1
            && (lib.x509_set_issuer)(cert, name) == 1
            && (lib.x509_sign)(cert, key, (lib.sha256)()) > 0;
        if ok {
            Some(cert)
        } else {
            (lib.x509_free)(cert);
            None
        }
    }
}

/// A DTLS context presenting `certificate`, asking the peer for its own
/// (any chain), offering our SRTP profiles. The context takes its own
/// references to the key and certificate.
unsafe fn context_with(lib: &Library, key: Ptr, certificate: Ptr) -> Option<Ptr> {
    // SAFETY: the caller passes live objects; see each call.
    unsafe {
        let context = (lib.ctx_new)((lib.dtls_method)());
        if context.is_null() {
            return None;
        }
        (lib.ctx_set_verify)(
            context,
            ffi::SSL_VERIFY_PEER | ffi::SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
            Some(accept_any_chain),
        );
        (lib.ctx_set_options)(context, ffi::SSL_OP_NO_QUERY_MTU);
        let ok = (lib.ctx_use_certificate)(context, certificate) == 1
            && (lib.ctx_use_private_key)(context, key) == 1
            // 0 is success here, unlike the rest of OpenSSL.
            && (lib.ctx_use_srtp)(context, SRTP_PROFILES.as_ptr()) == 0;
        // Never freed on success: the context lives as long as the process.
        ok.then_some(context)
    }
}

/// SHA-256 over the certificate's DER: what `a=fingerprint` carries.
pub(super) unsafe fn digest(lib: &Library, certificate: Ptr) -> Option<Fingerprint> {
    // SAFETY: the caller passes live objects; see each call.
    unsafe {
        let mut out = [0u8; 64];
        let mut len: c_uint = 0;
        let ok = (lib.x509_digest)(certificate, (lib.sha256)(), out.as_mut_ptr(), &mut len) == 1;
        (ok && len == 32).then(|| {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(&out[..32]);
            Fingerprint(bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_identity_per_process_with_a_sha_256_fingerprint() {
        let first = identity().expect("libssl3 is installed here");
        let again = identity().unwrap();
        assert!(std::ptr::eq(first, again));
        assert_ne!(first.fingerprint.0, [0; 32]);
    }
}
