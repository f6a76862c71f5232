//! An SDP as text cut at its `m=` lines, for a call that carries another
//! plugin's stream beside its audio (decision 0072): the audio section is
//! ours (`sdp.rs`), the other stream's section is its taker's, carried
//! byte for byte, and RFC 3264 wants each in its place (an answer has the
//! offer's m-lines in the offer's order; a later offer keeps every m-line
//! of the one before, a refused or ended one with port 0).

/// `sdp` cut into its session-level part and its media sections, each
/// with its line endings as they came.
pub fn split(sdp: &str) -> (&str, Vec<&str>) {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") {
            starts.push(at);
        }
        at += line.len();
    }
    let head = &sdp[..starts.first().copied().unwrap_or(sdp.len())];
    let media = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| &sdp[start..starts.get(i + 1).copied().unwrap_or(sdp.len())])
        .collect();
    (head, media)
}

/// A section's `m=` fields: kind, port, proto and formats.
fn m_fields(section: &str) -> Vec<&str> {
    section
        .lines()
        .next()
        .and_then(|l| l.trim_end().strip_prefix("m="))
        .map(|m| m.split_whitespace().collect())
        .unwrap_or_default()
}

/// The media kind of a section (`audio`, `message`).
pub fn kind(section: &str) -> &str {
    m_fields(section).first().copied().unwrap_or("")
}

/// Whether the section's stream is live: a port other than 0.
pub fn is_live(section: &str) -> bool {
    m_fields(section)
        .get(1)
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse::<u16>().ok())
        .is_some_and(|p| p != 0)
}

/// The section refused or ended: its `m=` line with port 0 and nothing
/// else (RFC 3264 §6, §8.2).
pub fn refused(section: &str) -> String {
    let fields = m_fields(section);
    let rest = fields.get(2..).map(|f| f.join(" ")).unwrap_or_default();
    let rest = if rest.is_empty() { "-".into() } else { rest };
    format!(
        "m={} 0 {rest}\r\n",
        fields.first().copied().unwrap_or("message")
    )
}

/// The session-level lines and the one section at `index`: what the
/// taker of a stream added to a call reads, as if it were a session of
/// its own.
pub fn stream_only(sdp: &str, index: usize) -> Option<String> {
    let (head, media) = split(sdp);
    media
        .get(index)
        .map(|section| format!("{}{}", lined(head), lined(section)))
}

/// The first section of a taker's SDP (a whole description with one
/// stream), made to stand on its own inside another description: the
/// session-level `c=` goes into it when it has none of its own.
pub fn standalone_section(sdp: &str) -> Option<String> {
    let (head, media) = split(sdp);
    let section = lined(media.first()?);
    if section.lines().any(|l| l.starts_with("c=")) {
        return Some(section);
    }
    let Some(connection) = head.lines().find(|l| l.starts_with("c=")) else {
        return Some(section);
    };
    let (m_line, rest) = section.split_once('\n').unwrap_or((&section, ""));
    Some(format!("{m_line}\n{}\r\n{rest}", connection.trim_end()))
}

/// `sdp` with the section at `index` replaced by `section`.
pub fn replace(sdp: &str, index: usize, section: &str) -> String {
    let (head, media) = split(sdp);
    let mut out = lined(head);
    for (i, m) in media.iter().enumerate() {
        out.push_str(&lined(if i == index { section } else { m }));
    }
    out
}

/// Our description in a call's m-line layout: `audio_sdp` (our audio
/// offer, one section) where the layout says audio (`None`), every other
/// slot's section as kept. An empty layout is the audio alone.
pub fn in_layout(audio_sdp: &str, layout: &[Option<String>]) -> String {
    if layout.is_empty() {
        return audio_sdp.to_owned();
    }
    let (head, media) = split(audio_sdp);
    let audio = media.first().copied().unwrap_or("");
    let mut out = lined(head);
    for slot in layout {
        out.push_str(&lined(slot.as_deref().unwrap_or(audio)));
    }
    out
}

/// The layout of `sdp` (ours, as sent): the first live audio section is
/// the call's audio, every other section kept as it is.
pub fn layout_of(sdp: &str) -> Vec<Option<String>> {
    let (_, media) = split(sdp);
    let audio = media.iter().position(|m| kind(m) == "audio" && is_live(m));
    media
        .iter()
        .enumerate()
        .map(|(i, m)| (Some(i) != audio).then(|| lined(m)))
        .collect()
}

/// The layout a call keeps after `sdp` (ours, as sent): as [`layout_of`],
/// but empty when the audio is the only m-line, so a call that only ever
/// had audio offers exactly what it always did.
pub fn call_layout(sdp: &str) -> Vec<Option<String>> {
    let layout = layout_of(sdp);
    if layout.iter().all(Option::is_none) {
        Vec::new()
    } else {
        layout
    }
}

/// `text` ending in a line break (CRLF added when the last line has none).
fn lined(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n\
        m=message 7654 TCP/MSRP *\r\na=sendonly\r\na=path:msrp://10.0.0.1:7654/x;tcp\r\n";

    #[test]
    fn cut_at_the_m_lines_and_put_back_together() {
        let (head, media) = split(CALL);
        assert!(head.ends_with("t=0 0\r\n"));
        assert_eq!(media.len(), 2);
        assert_eq!(kind(media[1]), "message");
        assert!(is_live(media[1]));
        assert_eq!(refused(media[1]), "m=message 0 TCP/MSRP *\r\n");
        assert!(!is_live(&refused(media[1])));
        let stream = stream_only(CALL, 1).unwrap();
        assert!(stream.starts_with("v=0\r\n"), "{stream}");
        assert!(!stream.contains("m=audio"), "{stream}");
        assert!(stream.contains("a=path:msrp://10.0.0.1:7654/x;tcp\r\n"));
        assert_eq!(stream_only(CALL, 2), None);
    }

    #[test]
    fn a_takers_section_carries_its_connection_into_the_call() {
        let taker = "v=0\r\no=tandem 5 5 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
            m=message 9 TCP/MSRP *\r\na=recvonly\r\n";
        let section = standalone_section(taker).unwrap();
        assert_eq!(
            section,
            "m=message 9 TCP/MSRP *\r\nc=IN IP4 10.0.0.9\r\na=recvonly\r\n"
        );
        let answer =
            "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 5000 RTP/AVP 0\r\nm=message 0 TCP/MSRP *\r\n";
        let spliced = replace(answer, 1, &section);
        assert_eq!(
            spliced,
            format!("v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 5000 RTP/AVP 0\r\n{section}")
        );
        assert_eq!(standalone_section("v=0\r\n"), None);
    }

    #[test]
    fn our_later_offers_keep_every_m_line_in_its_place() {
        let ours = "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 5000 RTP/AVP 0\r\na=sendonly\r\n";
        assert_eq!(in_layout(ours, &[]), ours);
        let layout = layout_of(
            "v=0\r\nm=message 0 TCP/MSRP *\r\nm=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 97\r\n",
        );
        assert_eq!(
            layout,
            vec![
                Some("m=message 0 TCP/MSRP *\r\n".into()),
                None,
                Some("m=video 0 RTP/AVP 97\r\n".into())
            ]
        );
        assert_eq!(call_layout(ours), Vec::<Option<String>>::new());
        assert_eq!(
            in_layout(ours, &layout),
            "v=0\r\nc=IN IP4 10.0.0.2\r\nm=message 0 TCP/MSRP *\r\n\
             m=audio 5000 RTP/AVP 0\r\na=sendonly\r\nm=video 0 RTP/AVP 97\r\n"
        );
    }
}
