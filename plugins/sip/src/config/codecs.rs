//! Which audio codecs calls may use, best first (`codecs`). The order is
//! what we offer and what we pick from a peer's offer. What each codec is
//! on the wire (payload types, clock rates) is the media layer's
//! (`media/codec.rs`).

use serde::Deserialize;

/// An audio codec Tandem speaks, as named in `codecs` and in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum Codec {
    /// Opus (RFC 7587) through the system's libopus, when installed.
    Opus,
    /// G.722 (RFC 3551), wideband ADPCM.
    G722,
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl Codec {
    pub const ALL: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];

    /// The name in SDP's `a=rtpmap` and in `codecs`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::G722 => "G722",
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The default order (decision 0074): G.722 first, since a G.722 call
    /// runs at 16 kHz end to end and so carries audio up to 7 kHz where
    /// G.711 stops at 3.4, for the same 64 kbit/s; G.711 after it for
    /// every peer without G.722. Opus only when configured: it needs
    /// libopus on the machine.
    pub fn default_order() -> Vec<Codec> {
        vec![Codec::G722, Codec::Pcmu, Codec::Pcma]
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("codec {0:?} is not one Tandem speaks: use \"opus\", \"G722\", \"PCMU\" or \"PCMA\"")]
pub struct UnknownCodec(pub String);

impl std::str::FromStr for Codec {
    type Err = UnknownCodec;

    /// Case-insensitive, as SDP encoding names are (RFC 4855 §3).
    fn from_str(name: &str) -> Result<Codec, UnknownCodec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownCodec(name.to_owned()))
    }
}

impl TryFrom<String> for Codec {
    type Error = UnknownCodec;

    fn try_from(name: String) -> Result<Codec, UnknownCodec> {
        name.parse()
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case_and_unknown_ones_are_named() {
        assert_eq!("g722".parse(), Ok(Codec::G722));
        assert_eq!("OPUS".parse(), Ok(Codec::Opus));
        assert_eq!("pcmu".parse(), Ok(Codec::Pcmu));
        let err = "G729".parse::<Codec>().unwrap_err();
        assert!(err.to_string().contains("\"G729\""), "{err}");
        for codec in Codec::ALL {
            assert_eq!(codec.name().parse(), Ok(codec));
        }
    }
}
