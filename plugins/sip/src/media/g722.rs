//! G.722 (ITU-T, 1988): 7 kHz audio at 64 kbit/s, 16 kHz samples split by
//! a quadrature mirror filter into two 8 kHz sub-bands, each coded by
//! ADPCM: 6 bits for the lower band, 2 for the upper, one byte per pair of
//! input samples. Only mode 1 (64 kbit/s, all six lower-band bits), the
//! one RTP carries (RFC 3551 §4.5.2).
//!
//! Written from the recommendation's block diagrams (the block names in
//! the comments are its own); bit-exact with the reference, which the
//! tests check against spandsp's implementation when it is installed.

/// The QMF's 24 taps are these 12, mirrored (G.722 §3.1, table 11).
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

/// QUANTL's decision levels, scaled (table 6).
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// QUANTL's 6-bit codes for a negative and a positive difference.
const ILN: [i32; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
const ILP: [i32; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
/// INVQBL's 6-bit output levels (table 7).
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// INVQAL's 4-bit output levels: the predictor sees only these.
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// LOGSCL: the 4-bit code's magnitude, and the scale factor's step for it.
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// SCALEL/SCALEH's antilog table.
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// The upper band: QUANTH's codes, INVQAH's levels, LOGSCH's steps.
const IHN: [i32; 3] = [0, 1, 0];
const IHP: [i32; 3] = [0, 3, 2];
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const RH2: [usize; 4] = [2, 1, 2, 1];
const WH: [i32; 3] = [0, -214, 798];

/// One G.722 byte codes this many 16 kHz samples.
pub const SAMPLES_PER_BYTE: usize = 2;

fn saturate(x: i32) -> i32 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// One sub-band's adaptive predictor and scale factor (blocks 3 and 4).
#[derive(Debug, Clone)]
struct Band {
    /// Signal estimate (s), and its zero-section part (sz).
    s: i32,
    sz: i32,
    /// Reconstructed signal r, partial reconstruction p, quantised
    /// difference d, each with its history.
    r: [i32; 3],
    p: [i32; 3],
    d: [i32; 7],
    /// Pole (a) and zero (b) predictor coefficients.
    a: [i32; 3],
    b: [i32; 7],
    /// Logarithmic scale factor (nb) and the scale factor (det).
    nb: i32,
    det: i32,
}

impl Band {
    fn new(det: i32) -> Band {
        Band {
            s: 0,
            sz: 0,
            r: [0; 3],
            p: [0; 3],
            d: [0; 7],
            a: [0; 3],
            b: [0; 7],
            nb: 0,
            det,
        }
    }

    /// LOGSCL/LOGSCH then SCALEL/SCALEH: the next scale factor from the
    /// code just sent, bounded by `max_nb`; `shift` is 8 for the lower
    /// band, 10 for the upper.
    fn scale(&mut self, step: i32, max_nb: i32, shift: i32) {
        self.nb = (((self.nb * 127) >> 7) + step).clamp(0, max_nb);
        let wd1 = ILB[((self.nb >> 6) & 31) as usize];
        let wd2 = shift - (self.nb >> 11);
        let wd3 = if wd2 < 0 { wd1 << -wd2 } else { wd1 >> wd2 };
        self.det = wd3 << 2;
    }

    /// Block 4: reconstructs, adapts the predictor to the quantised
    /// difference `d`, and predicts the next sample.
    fn adapt(&mut self, d: i32) {
        // RECONS, PARREC
        self.d[0] = d;
        self.r[0] = saturate(self.s + d);
        self.p[0] = saturate(self.sz + d);

        // UPPOL2: the second pole coefficient.
        let sg: [bool; 3] = self.p.map(|p| p < 0);
        let wd1 = saturate(self.a[1] << 2);
        let wd2 = (if sg[0] == sg[1] { -wd1 } else { wd1 }).min(32767);
        let wd3 =
            (wd2 >> 7) + (if sg[0] == sg[2] { 128 } else { -128 }) + ((self.a[2] * 32512) >> 15);
        let a2 = wd3.clamp(-12288, 12288);

        // UPPOL1: the first, kept within the stability triangle.
        let wd1 = if sg[0] == sg[1] { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let limit = saturate(15360 - a2);
        let a1 = saturate(wd1 + wd2).clamp(-limit, limit);

        // UPZERO: the six zero coefficients, by sign agreement of the
        // difference with each past one (each from its own old value).
        let step = if d == 0 { 0 } else { 128 };
        let negative = d < 0;
        for (b, past) in self.b[1..].iter_mut().zip(&self.d[1..]) {
            let wd2 = if (*past < 0) == negative { step } else { -step };
            *b = saturate(wd2 + ((*b * 32640) >> 15));
        }

        // DELAYA
        self.d.copy_within(0..6, 1);
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
        }
        self.a[1] = a1;
        self.a[2] = a2;

        // FILTEP, FILTEZ, PREDIC
        let wd1 = (self.a[1] * saturate(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * saturate(self.r[2] + self.r[2])) >> 15;
        let sp = saturate(wd1 + wd2);
        let sz: i32 = (1..7)
            .map(|i| (self.b[i] * saturate(self.d[i] + self.d[i])) >> 15)
            .sum();
        self.sz = saturate(sz);
        self.s = saturate(sp + self.sz);
    }
}

/// The lower band after its 6-bit code: the quantised difference the
/// predictor sees (INVQAL, four bits of it), and the scale update.
fn lower_update(band: &mut Band, code: i32) {
    let ril = (code >> 2) as usize;
    let dlow = (band.det * QM4[ril]) >> 15;
    band.scale(WL[RL42[ril]], 18432, 8);
    band.adapt(dlow);
}

/// The upper band after its 2-bit code (INVQAH, LOGSCH, SCALEH, block 4);
/// answers the quantised difference.
fn upper_update(band: &mut Band, code: i32) -> i32 {
    let dhigh = (band.det * QM2[code as usize]) >> 15;
    band.scale(WH[RH2[code as usize]], 22528, 10);
    band.adapt(dhigh);
    dhigh
}

/// One direction's state: a QMF's delay line and both bands, as they
/// start (G.722 §6.2: the scale factors at their minimum).
#[derive(Debug, Clone)]
struct State {
    x: [i32; 24],
    low: Band,
    high: Band,
}

impl Default for State {
    fn default() -> Self {
        State {
            x: [0; 24],
            low: Band::new(32),
            high: Band::new(8),
        }
    }
}

/// The encoder: the transmit QMF and both bands' quantisers.
#[derive(Debug, Clone, Default)]
pub struct Encoder(State);

impl Encoder {
    /// Codes 16 kHz samples, two to a byte (an odd last sample waits for
    /// nothing: it is dropped, as frames are always even).
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(pcm.len() / SAMPLES_PER_BYTE);
        for pair in pcm.chunks_exact(2) {
            out.push(self.encode_pair(i32::from(pair[0]), i32::from(pair[1])));
        }
    }

    fn encode_pair(&mut self, first: i32, second: i32) -> u8 {
        // Transmit QMF: split into the lower and upper sub-band.
        self.0.x.copy_within(2.., 0);
        self.0.x[22] = first;
        self.0.x[23] = second;
        let (mut odd, mut even) = (0, 0);
        for i in 0..12 {
            odd += self.0.x[2 * i] * QMF[i];
            even += self.0.x[2 * i + 1] * QMF[11 - i];
        }
        let xlow = (even + odd) >> 14;
        let xhigh = (even - odd) >> 14;

        // Lower band: SUBTRA, QUANTL.
        let el = saturate(xlow - self.0.low.s);
        let magnitude = if el >= 0 { el } else { -(el + 1) };
        let level = (1..30)
            .find(|&i| magnitude < (Q6[i] * self.0.low.det) >> 12)
            .unwrap_or(30);
        let ilow = if el < 0 { ILN[level] } else { ILP[level] };
        lower_update(&mut self.0.low, ilow);

        // Upper band: SUBTRA, QUANTH.
        let eh = saturate(xhigh - self.0.high.s);
        let magnitude = if eh >= 0 { eh } else { -(eh + 1) };
        let level = if magnitude >= (564 * self.0.high.det) >> 12 {
            2
        } else {
            1
        };
        let ihigh = if eh < 0 { IHN[level] } else { IHP[level] };
        upper_update(&mut self.0.high, ihigh);

        ((ihigh << 6) | ilow) as u8
    }
}

/// The decoder: both bands' inverse quantisers and the receive QMF.
#[derive(Debug, Clone, Default)]
pub struct Decoder(State);

impl Decoder {
    /// Two 16 kHz samples for each byte.
    pub fn decode(&mut self, bytes: &[u8], out: &mut Vec<i16>) {
        out.clear();
        out.reserve(bytes.len() * SAMPLES_PER_BYTE);
        for &byte in bytes {
            let [first, second] = self.decode_byte(i32::from(byte));
            out.push(first);
            out.push(second);
        }
    }

    fn decode_byte(&mut self, code: i32) -> [i16; 2] {
        let ilow = code & 0x3F;
        let ihigh = (code >> 6) & 0x03;

        // Lower band: INVQBL with all six bits, RECONS, LIMIT.
        let rlow =
            (self.0.low.s + ((self.0.low.det * QM6[ilow as usize]) >> 15)).clamp(-16384, 16383);
        lower_update(&mut self.0.low, ilow);

        // Upper band: INVQAH, RECONS, LIMIT.
        let s = self.0.high.s;
        let dhigh = upper_update(&mut self.0.high, ihigh);
        let rhigh = (dhigh + s).clamp(-16384, 16383);

        // Receive QMF: the two bands back into two 16 kHz samples.
        self.0.x.copy_within(2.., 0);
        self.0.x[22] = rlow + rhigh;
        self.0.x[23] = rlow - rhigh;
        let (mut first, mut second) = (0, 0);
        for i in 0..12 {
            second += self.0.x[2 * i] * QMF[i];
            first += self.0.x[2 * i + 1] * QMF[11 - i];
        }
        [saturate(first >> 11) as i16, saturate(second >> 11) as i16]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::goertzel_power;

    fn tone(hz: f64, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|i| ((i as f64 * std::f64::consts::TAU * hz / 16000.0).sin() * 8000.0) as i16)
            .collect()
    }

    fn round_trip(pcm: &[i16]) -> (Vec<u8>, Vec<i16>) {
        let (mut encoder, mut decoder) = (Encoder::default(), Decoder::default());
        let (mut bytes, mut back) = (Vec::new(), Vec::new());
        let (mut all_bytes, mut all_back) = (Vec::new(), Vec::new());
        // 20 ms frames, as RTP carries them: the state crosses frames.
        for frame in pcm.chunks(320) {
            encoder.encode(frame, &mut bytes);
            decoder.decode(&bytes, &mut back);
            all_bytes.extend_from_slice(&bytes);
            all_back.extend_from_slice(&back);
        }
        (all_bytes, all_back)
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_level_in_both_bands() {
        // 1 kHz sits in the lower band, 6 kHz in the upper one: G.711
        // could not carry the second at all.
        for hz in [1000.0, 6000.0] {
            let pcm = tone(hz, 16000);
            let (bytes, back) = round_trip(&pcm);
            assert_eq!(bytes.len(), 8000, "64 kbit/s");
            assert_eq!(back.len(), pcm.len());
            // After the filters' and predictor's start-up.
            let settled = &back[1600..];
            let wanted = goertzel_power(settled, hz, 16000.0);
            for other in [440.0, 2500.0, 4500.0, 7000.0] {
                let stray = goertzel_power(settled, other, 16000.0);
                assert!(wanted > 100.0 * stray, "{hz} Hz against {other} Hz");
            }
            let level = |s: &[i16]| s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
            let ratio = level(settled) / level(&pcm[1600..]);
            assert!((0.7..1.4).contains(&ratio), "{hz} Hz: power ratio {ratio}");
        }
    }

    #[test]
    fn silence_stays_silent_and_full_scale_does_not_wrap() {
        let (_, back) = round_trip(&[0; 3200]);
        assert!(back.iter().all(|s| s.abs() < 8), "{:?}", &back[..16]);
        let square: Vec<i16> = (0..3200)
            .map(|i| if i / 8 % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let (_, back) = round_trip(&square);
        // Saturation, not wrapping: a wrapped sample would flip sign in
        // the middle of a half-period.
        let flips = back[400..]
            .windows(2)
            .filter(|w| (w[0] < -8000 && w[1] > 8000) || (w[0] > 8000 && w[1] < -8000))
            .count();
        assert!(flips < 3200 / 8, "{flips} sign flips");
    }
}
