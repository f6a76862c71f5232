//! Opus (RFC 6716) through the system's libopus, loaded when first wanted
//! rather than linked: a machine without Debian's `libopus0` still runs
//! Tandem, and simply never offers Opus (decision 0064). Only the few
//! functions of `opus.h` we call are declared here, so no headers or
//! build script are needed.
//!
//! A call's 16 kHz frames go in and come out as they are: libopus codes
//! from and decodes to 16 kHz (wideband, audio up to 8 kHz) itself, while
//! the RTP clock stays 48 kHz (RFC 7587 §4.1) (decision 0074).

use std::os::raw::{c_int, c_uchar, c_void};
use std::sync::OnceLock;

use super::audio::Rate;

/// The library's file name (Debian's `libopus0`; `libopus.so` is only in
/// the `-dev` package).
const LIBRARY: &str = "libopus.so.0";
/// The rate we code at: a wideband call's (`Rate::Wide`).
pub const RATE: Rate = Rate::Wide;
/// OPUS_APPLICATION_VOIP: tuned for speech, as baresip's default.
const APPLICATION_VOIP: c_int = 2048;
/// `opus_encoder_ctl` requests (opus_defines.h).
const SET_BITRATE: c_int = 4002;
const SET_INBAND_FEC: c_int = 4012;
const SET_PACKET_LOSS_PERC: c_int = 4014;
const SET_DTX: c_int = 4016;
/// baresip's defaults (its `opus_bitrate`, in-band FEC on as it offers
/// `useinbandfec=1`, DTX off), and the loss FEC is made for.
const BITRATE: c_int = 28000;
const EXPECTED_LOSS_PERCENT: c_int = 10;
/// The most a packet can need (RFC 6716 §3.4: 1275 bytes a frame).
pub const MAX_PACKET: usize = 1275;
/// The longest packet (120 ms) at our rate, in samples.
const MAX_FRAME: usize = 120 * RATE.hz() as usize / 1000;

type EncoderCreate = unsafe extern "C" fn(i32, c_int, c_int, *mut c_int) -> *mut c_void;
type Encode = unsafe extern "C" fn(*mut c_void, *const i16, c_int, *mut c_uchar, i32) -> i32;
type EncoderCtl = unsafe extern "C" fn(*mut c_void, c_int, ...) -> c_int;
type DecoderCreate = unsafe extern "C" fn(i32, c_int, *mut c_int) -> *mut c_void;
type Decode =
    unsafe extern "C" fn(*mut c_void, *const c_uchar, i32, *mut i16, c_int, c_int) -> c_int;
type Destroy = unsafe extern "C" fn(*mut c_void);

/// libopus's entry points, resolved once.
pub struct Library {
    encoder_create: EncoderCreate,
    encode: Encode,
    encoder_ctl: EncoderCtl,
    encoder_destroy: Destroy,
    decoder_create: DecoderCreate,
    decode: Decode,
    decoder_destroy: Destroy,
    /// Kept loaded for as long as the pointers above are used: for the
    /// life of the process.
    _library: libloading::Library,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OpusError {
    #[error("Opus unavailable: {LIBRARY} not found (install libopus0)")]
    Missing,
    #[error("Opus unavailable: {LIBRARY} lacks {0}")]
    Symbol(&'static str),
    #[error("libopus refused to set up a coder (error {0})")]
    Create(c_int),
}

/// The library, loaded on first use; the same answer ever after.
pub fn library() -> Result<&'static Library, OpusError> {
    static LOADED: OnceLock<Result<Library, OpusError>> = OnceLock::new();
    LOADED.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Library, OpusError> {
    // SAFETY: libopus's initialisers only set up its own state; each
    // symbol is declared with opus.h's signature.
    unsafe {
        let library = libloading::Library::new(LIBRARY).map_err(|_| OpusError::Missing)?;
        macro_rules! symbol {
            ($name:literal) => {
                *library
                    .get(concat!($name, "\0").as_bytes())
                    .map_err(|_| OpusError::Symbol($name))?
            };
        }
        Ok(Library {
            encoder_create: symbol!("opus_encoder_create"),
            encode: symbol!("opus_encode"),
            encoder_ctl: symbol!("opus_encoder_ctl"),
            encoder_destroy: symbol!("opus_encoder_destroy"),
            decoder_create: symbol!("opus_decoder_create"),
            decode: symbol!("opus_decode"),
            decoder_destroy: symbol!("opus_decoder_destroy"),
            _library: library,
        })
    }
}

/// A mono encoder at 16 kHz with baresip's settings.
pub struct Encoder {
    lib: &'static Library,
    state: *mut c_void,
}

// SAFETY: an OpusEncoder is plain memory with no thread affinity; `&mut
// self` keeps its use to one thread at a time.
unsafe impl Send for Encoder {}
unsafe impl Sync for Encoder {}

impl Encoder {
    pub fn new() -> Result<Encoder, OpusError> {
        let lib = library()?;
        let mut error = 0;
        // SAFETY: valid arguments; the state is checked before use.
        let state =
            unsafe { (lib.encoder_create)(RATE.hz() as i32, 1, APPLICATION_VOIP, &mut error) };
        if state.is_null() || error != 0 {
            return Err(OpusError::Create(error));
        }
        // Owned from here: dropped (destroyed) on an error below.
        let encoder = Encoder { lib, state };
        for (request, value) in [
            (SET_BITRATE, BITRATE),
            (SET_INBAND_FEC, 1),
            (SET_PACKET_LOSS_PERC, EXPECTED_LOSS_PERCENT),
            (SET_DTX, 0),
        ] {
            // SAFETY: each of these requests takes one opus_int32.
            let status = unsafe { (lib.encoder_ctl)(state, request, value) };
            if status != 0 {
                return Err(OpusError::Create(status));
            }
        }
        Ok(encoder)
    }

    /// One frame of 16 kHz samples (20 ms: 320) into one packet.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.resize(MAX_PACKET, 0);
        // SAFETY: `pcm` holds the frame, `out` MAX_PACKET bytes.
        let n = unsafe {
            (self.lib.encode)(
                self.state,
                pcm.as_ptr(),
                pcm.len() as c_int,
                out.as_mut_ptr(),
                MAX_PACKET as i32,
            )
        };
        // A negative answer is an error (a frame size libopus refuses):
        // nothing is sent rather than garbage.
        out.truncate(n.max(0) as usize);
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed once.
        unsafe { (self.lib.encoder_destroy)(self.state) };
    }
}

/// A mono decoder to 16 kHz (a stereo stream is mixed down by libopus).
pub struct Decoder {
    lib: &'static Library,
    state: *mut c_void,
}

// SAFETY: as for `Encoder`.
unsafe impl Send for Decoder {}
unsafe impl Sync for Decoder {}

impl Decoder {
    pub fn new() -> Result<Decoder, OpusError> {
        let lib = library()?;
        let mut error = 0;
        // SAFETY: valid arguments; the state is checked before use.
        let state = unsafe { (lib.decoder_create)(RATE.hz() as i32, 1, &mut error) };
        if state.is_null() || error != 0 {
            return Err(OpusError::Create(error));
        }
        Ok(Decoder { lib, state })
    }

    /// One packet into 16 kHz samples (none for a packet libopus refuses).
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) {
        out.resize(MAX_FRAME, 0);
        // SAFETY: `out` holds the longest frame Opus can code.
        let n = unsafe {
            (self.lib.decode)(
                self.state,
                packet.as_ptr(),
                packet.len() as i32,
                out.as_mut_ptr(),
                MAX_FRAME as c_int,
                0,
            )
        };
        out.truncate(n.max(0) as usize);
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed once.
        unsafe { (self.lib.decoder_destroy)(self.state) };
    }
}
