//! G.711 (ITU-T) μ-law and A-law, the two codecs every SIP phone speaks.
//! Bit-exact with the reference algorithm (Sun's g711.c), which sipp's and
//! baresip's recordings use too.

/// Which of the two G.711 companding laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// μ-law (PCMU, static payload type 0).
    Mu,
    /// A-law (PCMA, static payload type 8).
    A,
}

pub fn encode(law: Law, pcm: &[i16], out: &mut Vec<u8>) {
    out.clear();
    match law {
        Law::Mu => out.extend(pcm.iter().map(|&s| ulaw_encode(s))),
        Law::A => out.extend(pcm.iter().map(|&s| alaw_encode(s))),
    }
}

pub fn decode(law: Law, bytes: &[u8], out: &mut Vec<i16>) {
    out.clear();
    match law {
        Law::Mu => out.extend(bytes.iter().map(|&b| ulaw_decode(b))),
        Law::A => out.extend(bytes.iter().map(|&b| alaw_decode(b))),
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

pub fn ulaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
    // Highest set bit among 7..=14 gives the segment.
    let exponent = (31 - (pcm as u32).leading_zeros()).saturating_sub(7).min(7) as i32;
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

pub fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

const ALAW_SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

pub fn alaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let Some(segment) = ALAW_SEGMENT_END.iter().position(|&end| pcm <= end) else {
        return 0x7F ^ mask;
    };
    let shift = if segment < 2 { 1 } else { segment };
    let value = ((segment as i32) << 4) | ((pcm >> shift) & 0x0F);
    (value as u8) ^ mask
}

pub fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let segment = (a & 0x70) >> 4;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= segment - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Silence and full scale, as in every G.711 table.
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
    }

    #[test]
    fn decode_then_encode_is_identity_for_every_code() {
        for byte in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(byte)), byte, "A-law {byte:#x}");
            // μ-law has two codes for zero (0x7F and 0xFF).
            if byte != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(byte)), byte, "μ-law {byte:#x}");
            }
        }
    }

    #[test]
    fn round_trip_error_is_within_the_segment_step() {
        for sample in (i16::MIN..=i16::MAX).step_by(97) {
            for codec in [Law::Mu, Law::A] {
                let mut bytes = Vec::new();
                let mut back = Vec::new();
                encode(codec, &[sample], &mut bytes);
                decode(codec, &bytes, &mut back);
                let error = (i32::from(sample) - i32::from(back[0])).abs();
                let allowed = (i32::from(sample).abs() / 16).max(16);
                assert!(error <= allowed, "{codec:?} {sample} -> {}", back[0]);
            }
        }
    }
}
