//! Which SASL mechanism to use, as the careful clients choose (Conversations,
//! Dino, slixmpp): the strongest the server offers and the config allows,
//! SCRAM before PLAIN, and a `-PLUS` variant only with a channel-binding
//! type the server said it supports (XEP-0440). Without XEP-0440 the
//! binding is not guessed: `tls-exporter` is RFC 9266's, and servers that
//! predate it (ejabberd 23.01) answer it with "invalid channel binding";
//! `tls-unique` (RFC 5929, TLS ≤ 1.2 only) cannot be had from rustls. See
//! docs/decisions/0035-sasl-mechanism-choice.md.

use std::collections::BTreeSet;

use sasl::common::ChannelBinding;
use xmpp_parsers::sasl_cb::Type as CbType;

/// The mechanisms the sidecar can run, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    ScramSha256Plus,
    ScramSha1Plus,
    ScramSha256,
    ScramSha1,
    Plain,
}

impl Mechanism {
    pub const ALL: [Mechanism; 5] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
        }
    }

    /// Whether it binds the TLS channel.
    pub fn plus(self) -> bool {
        matches!(self, Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus)
    }

    fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// A bad `sasl` entry in the config.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("[xmpp] sasl: `{0}` is not a mechanism Tandem knows (SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN; `-NAME` excludes one)")]
    Unknown(String),
    #[error("[xmpp] sasl: the entries allow no mechanism at all")]
    Nothing,
}

/// `[plugins.xmpp] sasl`: the mechanisms allowed, in preference order.
/// Empty: all, best first. `["SCRAM-SHA-1"]`: that one only (pinned).
/// `["-SCRAM-SHA-1-PLUS"]`: all but that one. Names may be mixed: the
/// pinned ones in their order, less the excluded ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    allowed: Vec<Mechanism>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed: Mechanism::ALL.to_vec(),
        }
    }
}

impl Policy {
    pub fn parse(entries: &[String]) -> Result<Policy, PolicyError> {
        let mut pinned = Vec::new();
        let mut excluded = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            let (list, name) = match entry.strip_prefix('-') {
                Some(name) => (&mut excluded, name),
                None => (&mut pinned, entry),
            };
            let mechanism =
                Mechanism::from_name(name).ok_or_else(|| PolicyError::Unknown(entry.to_owned()))?;
            if !list.contains(&mechanism) {
                list.push(mechanism);
            }
        }
        if pinned.is_empty() {
            pinned = Mechanism::ALL.to_vec();
        }
        pinned.retain(|m| !excluded.contains(m));
        if pinned.is_empty() {
            return Err(PolicyError::Nothing);
        }
        Ok(Policy { allowed: pinned })
    }
}

/// Why no mechanism can be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("no SASL mechanism both sides accept: the server offers {offered}; allowed here: {allowed}{hint}")]
pub struct NoMechanism {
    pub offered: String,
    pub allowed: String,
    pub hint: &'static str,
}

/// The mechanism to run, and the channel binding to run it with.
#[derive(Debug, PartialEq)]
pub struct Choice {
    pub mechanism: Mechanism,
    pub binding: ChannelBinding,
}

/// Picks a mechanism. `offered`: the server's `<mechanisms/>`;
/// `cb_types`: its XEP-0440 list, if it sent one; `exporter`: the
/// RFC 9266 `tls-exporter` value of this TLS 1.3 connection (none on TLS
/// 1.2 or plain TCP).
pub fn choose(
    policy: &Policy,
    offered: &BTreeSet<String>,
    cb_types: Option<&[CbType]>,
    exporter: Option<&[u8]>,
) -> Result<Choice, NoMechanism> {
    let server_has = |m: Mechanism| offered.iter().any(|o| o.eq_ignore_ascii_case(m.name()));
    let exporter_known = cb_types.is_some_and(|types| types.contains(&CbType::TlsExporter));
    let server_offers_plus = Mechanism::ALL
        .into_iter()
        .any(|m| m.plus() && server_has(m));
    for &mechanism in &policy.allowed {
        if !server_has(mechanism) {
            continue;
        }
        let binding = if mechanism.plus() {
            match exporter.filter(|_| exporter_known) {
                Some(data) => ChannelBinding::TlsExporter(data.to_vec()),
                None => continue,
            }
        } else if exporter.is_some() && !server_offers_plus {
            // RFC 5802 §6 "y": we could bind but the server offers no
            // -PLUS; a server that does and sees "y" knows of a downgrade.
            ChannelBinding::Unsupported
        } else {
            ChannelBinding::None
        };
        return Ok(Choice { mechanism, binding });
    }
    let hint = if server_offers_plus && !exporter_known {
        " (the -PLUS ones need a channel binding the server names in XEP-0440; it names none Tandem can use)"
    } else {
        ""
    };
    Err(NoMechanism {
        offered: offered.iter().cloned().collect::<Vec<_>>().join(", "),
        allowed: policy
            .allowed
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", "),
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    const EXPORTER: &[u8] = &[7; 32];

    /// ejabberd 23.01 on TLS 1.3: -PLUS offered, no XEP-0440 (it knows
    /// only tls-unique): SCRAM-SHA-1 without binding, never PLAIN.
    #[test]
    fn ejabberd_23_on_tls_1_3_gets_scram_without_guessing_a_binding() {
        let offered = offer(&["PLAIN", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"]);
        let choice = choose(&Policy::default(), &offered, None, Some(EXPORTER)).unwrap();
        assert_eq!(choice.mechanism, Mechanism::ScramSha1);
        // "n": the server offers -PLUS, so "y" would read as a downgrade.
        assert_eq!(choice.binding, ChannelBinding::None);
    }

    /// Prosody 0.12 on TLS 1.3 offers no -PLUS: SCRAM, flagged "y".
    #[test]
    fn scram_is_preferred_to_plain_and_says_it_could_bind() {
        let offered = offer(&["PLAIN", "SCRAM-SHA-1"]);
        let choice = choose(&Policy::default(), &offered, None, Some(EXPORTER)).unwrap();
        assert_eq!(choice.mechanism, Mechanism::ScramSha1);
        assert_eq!(choice.binding, ChannelBinding::Unsupported);
        let choice = choose(&Policy::default(), &offered, None, None).unwrap();
        assert_eq!(choice.binding, ChannelBinding::None);
    }

    #[test]
    fn plus_only_with_a_binding_the_server_names() {
        let offered = offer(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1"]);
        let named = [CbType::TlsExporter];
        let choice = choose(&Policy::default(), &offered, Some(&named), Some(EXPORTER)).unwrap();
        assert_eq!(choice.mechanism, Mechanism::ScramSha256Plus);
        assert_eq!(
            choice.binding,
            ChannelBinding::TlsExporter(EXPORTER.to_vec())
        );
        // Named, but TLS 1.2 (no exporter here): no -PLUS.
        let choice = choose(&Policy::default(), &offered, Some(&named), None).unwrap();
        assert_eq!(choice.mechanism, Mechanism::ScramSha256);
        // Only tls-unique named: rustls cannot give it.
        let unique = [CbType::TlsUnique];
        let choice = choose(&Policy::default(), &offered, Some(&unique), Some(EXPORTER)).unwrap();
        assert_eq!(choice.mechanism, Mechanism::ScramSha256);
    }

    #[test]
    fn the_config_pins_or_excludes() {
        let offered = offer(&["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"]);
        let pinned = Policy::parse(&["scram-sha-1".into()]).unwrap();
        assert_eq!(
            choose(&pinned, &offered, None, None).unwrap().mechanism,
            Mechanism::ScramSha1
        );
        let no_scram = Policy::parse(&["-SCRAM-SHA-256".into(), "-SCRAM-SHA-1".into()]).unwrap();
        assert_eq!(
            choose(&no_scram, &offered, None, None).unwrap().mechanism,
            Mechanism::Plain
        );
        let plain_only = offer(&["PLAIN"]);
        let no_plain = Policy::parse(&["-PLAIN".into()]).unwrap();
        let err = choose(&no_plain, &plain_only, None, None).unwrap_err();
        assert!(err.to_string().contains("the server offers PLAIN"), "{err}");
        assert_eq!(
            Policy::parse(&["DIGEST-MD5".into()]),
            Err(PolicyError::Unknown("DIGEST-MD5".into()))
        );
        assert_eq!(
            Policy::parse(&["-PLAIN".into(), "PLAIN".into()]),
            Err(PolicyError::Nothing)
        );
    }
}
