//! spandsp's G.722 (Debian's libspandsp2, which baresip's `g722` module
//! uses), loaded at run time: the reference our own G.722 is checked and
//! measured against. Shared by the `g722_reference` test and the `media`
//! bench.

use std::os::raw::{c_int, c_void};

type EncodeInit = unsafe extern "C" fn(*mut c_void, c_int, c_int) -> *mut c_void;
type Encode = unsafe extern "C" fn(*mut c_void, *mut u8, *const i16, c_int) -> c_int;
type DecodeInit = unsafe extern "C" fn(*mut c_void, c_int, c_int) -> *mut c_void;
type Decode = unsafe extern "C" fn(*mut c_void, *mut i16, *const u8, c_int) -> c_int;
type Free = unsafe extern "C" fn(*mut c_void) -> c_int;

pub struct Spandsp {
    encode_init: EncodeInit,
    encode: Encode,
    encode_free: Free,
    decode_init: DecodeInit,
    decode: Decode,
    decode_free: Free,
    _library: libloading::Library,
}

impl Spandsp {
    /// The installed library; panics with what to install when it is not.
    pub fn load() -> Spandsp {
        // SAFETY: loading runs spandsp's initialisers, which only set up
        // its own tables; the symbols are declared as spandsp.h does.
        unsafe {
            let library = libloading::Library::new("libspandsp.so.2").unwrap_or_else(|e| {
                panic!("libspandsp.so.2 ({e}): tools/install-packages tests installs libspandsp2")
            });
            Spandsp {
                encode_init: *library.get(b"g722_encode_init\0").unwrap(),
                encode: *library.get(b"g722_encode\0").unwrap(),
                encode_free: *library.get(b"g722_encode_free\0").unwrap(),
                decode_init: *library.get(b"g722_decode_init\0").unwrap(),
                decode: *library.get(b"g722_decode\0").unwrap(),
                decode_free: *library.get(b"g722_decode_free\0").unwrap(),
                _library: library,
            }
        }
    }

    /// A 64 kbit/s, 16 kHz encoder (`options` 0: not 8 kHz, not packed).
    pub fn encoder(&self) -> Encoder<'_> {
        // SAFETY: a null state asks spandsp to allocate one.
        let state = unsafe { (self.encode_init)(std::ptr::null_mut(), 64000, 0) };
        assert!(!state.is_null());
        Encoder { lib: self, state }
    }

    pub fn decoder(&self) -> Decoder<'_> {
        // SAFETY: as for the encoder.
        let state = unsafe { (self.decode_init)(std::ptr::null_mut(), 64000, 0) };
        assert!(!state.is_null());
        Decoder { lib: self, state }
    }
}

pub struct Encoder<'a> {
    lib: &'a Spandsp,
    state: *mut c_void,
}

impl Encoder<'_> {
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.resize(pcm.len() / 2, 0);
        // SAFETY: spandsp writes one byte per two samples into `out`.
        let n = unsafe {
            (self.lib.encode)(
                self.state,
                out.as_mut_ptr(),
                pcm.as_ptr(),
                pcm.len() as c_int,
            )
        };
        out.truncate(n as usize);
    }
}

impl Drop for Encoder<'_> {
    fn drop(&mut self) {
        // SAFETY: the state spandsp allocated, freed once.
        unsafe { (self.lib.encode_free)(self.state) };
    }
}

pub struct Decoder<'a> {
    lib: &'a Spandsp,
    state: *mut c_void,
}

impl Decoder<'_> {
    pub fn decode(&mut self, bytes: &[u8], out: &mut Vec<i16>) {
        out.resize(bytes.len() * 2, 0);
        // SAFETY: spandsp writes two samples per byte into `out`.
        let n = unsafe {
            (self.lib.decode)(
                self.state,
                out.as_mut_ptr(),
                bytes.as_ptr(),
                bytes.len() as c_int,
            )
        };
        out.truncate(n as usize);
    }
}

impl Drop for Decoder<'_> {
    fn drop(&mut self) {
        // SAFETY: as for the encoder.
        unsafe { (self.lib.decode_free)(self.state) };
    }
}
