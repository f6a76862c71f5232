//! Just enough XML to read a GSMA RCS file-info document: elements,
//! attributes, text, the five predefined entities and character
//! references, comments, CDATA and the XML declaration.
//!
//! Why not a full parser: none is in the tree, the document is small and
//! comes from a stranger, and this reader has nothing to exploit: no DTD
//! (a `<!DOCTYPE` is refused, so no entity expansion), no external
//! anything, a size cap before it starts and a depth cap while it reads.

use thiserror::Error;

/// Documents larger than this are refused unread.
pub const MAX_DOCUMENT: usize = 16 * 1024;
/// Elements nested deeper than this are refused.
const MAX_DEPTH: usize = 16;

/// Why a document could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("the document is {0} bytes, more than the {MAX_DOCUMENT} a file offer may have")]
    TooLarge(usize),
    #[error("the document is cut short")]
    Truncated,
    #[error("malformed XML at byte {0}")]
    Malformed(usize),
    #[error("a document type declaration is not allowed")]
    Doctype,
    #[error("unknown entity `&{0};`")]
    Entity(String),
    #[error("elements nested more than {MAX_DEPTH} deep")]
    TooDeep,
    #[error("`</{found}>` closes `<{open}>`")]
    Mismatch { open: String, found: String },
}

/// An element, with its children; names are local (prefix dropped).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The trimmed text of the first child called `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// Reads `doc` into its root element.
pub fn parse(doc: &str) -> Result<Element, XmlError> {
    if doc.len() > MAX_DOCUMENT {
        return Err(XmlError::TooLarge(doc.len()));
    }
    let mut reader = Reader { doc, pos: 0 };
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        reader.skip_space_if(stack.is_empty());
        if reader.pos >= doc.len() {
            break;
        }
        let rest = &doc[reader.pos..];
        if rest.starts_with("<?") {
            reader.skip_past("?>")?;
        } else if rest.starts_with("<!--") {
            reader.skip_past("-->")?;
        } else if rest.starts_with("<![CDATA[") {
            let start = reader.pos + 9;
            reader.skip_past("]]>")?;
            let text = &doc[start..reader.pos - 3];
            match stack.last_mut() {
                Some(open) => open.text.push_str(text),
                None => return Err(XmlError::Malformed(start)),
            }
        } else if rest.starts_with("<!") {
            return Err(XmlError::Doctype);
        } else if rest.starts_with("</") {
            reader.pos += 2;
            let name = local(reader.name()?).to_owned();
            reader.skip_space_if(true);
            reader.expect('>')?;
            let done = stack.pop().ok_or(XmlError::Malformed(reader.pos))?;
            if done.name != name {
                return Err(XmlError::Mismatch {
                    open: done.name,
                    found: name,
                });
            }
            close(&mut stack, &mut root, done, reader.pos)?;
        } else if rest.starts_with('<') {
            reader.pos += 1;
            let (element, empty) = reader.start_tag()?;
            if empty {
                close(&mut stack, &mut root, element, reader.pos)?;
            } else {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(element);
            }
        } else {
            let end = rest.find('<').map_or(doc.len(), |i| reader.pos + i);
            let text = unescape(&doc[reader.pos..end])?;
            match stack.last_mut() {
                Some(open) => open.text.push_str(&text),
                None => return Err(XmlError::Malformed(reader.pos)),
            }
            reader.pos = end;
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Truncated);
    }
    root.ok_or(XmlError::Truncated)
}

/// Hands a finished element to its parent, or makes it the root.
fn close(
    stack: &mut [Element],
    root: &mut Option<Element>,
    done: Element,
    at: usize,
) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(done),
        None if root.is_none() => *root = Some(done),
        None => return Err(XmlError::Malformed(at)),
    }
    Ok(())
}

/// `am:playing-length` → `playing-length`.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

struct Reader<'a> {
    doc: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn skip_space_if(&mut self, yes: bool) {
        if yes {
            let rest = &self.doc[self.pos..];
            self.pos += rest.len() - rest.trim_start().len();
        }
    }

    fn skip_past(&mut self, end: &str) -> Result<(), XmlError> {
        let at = self.doc[self.pos..].find(end).ok_or(XmlError::Truncated)?;
        self.pos += at + end.len();
        Ok(())
    }

    fn expect(&mut self, c: char) -> Result<(), XmlError> {
        if self.doc[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else if self.pos >= self.doc.len() {
            Err(XmlError::Truncated)
        } else {
            Err(XmlError::Malformed(self.pos))
        }
    }

    fn name(&mut self) -> Result<&'a str, XmlError> {
        let rest = &self.doc[self.pos..];
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | '/' | '=' | '<'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(if rest.is_empty() {
                XmlError::Truncated
            } else {
                XmlError::Malformed(self.pos)
            });
        }
        self.pos += len;
        Ok(&rest[..len])
    }

    /// After `<`: the name, the attributes, and whether it ended in `/>`.
    fn start_tag(&mut self) -> Result<(Element, bool), XmlError> {
        let mut element = Element {
            name: local(self.name()?).to_owned(),
            ..Element::default()
        };
        loop {
            self.skip_space_if(true);
            let rest = &self.doc[self.pos..];
            if rest.starts_with("/>") {
                self.pos += 2;
                return Ok((element, true));
            }
            if rest.starts_with('>') {
                self.pos += 1;
                return Ok((element, false));
            }
            let name = self.name()?;
            self.skip_space_if(true);
            self.expect('=')?;
            self.skip_space_if(true);
            let quote = match self.doc[self.pos..].chars().next() {
                Some(q @ ('"' | '\'')) => q,
                Some(_) => return Err(XmlError::Malformed(self.pos)),
                None => return Err(XmlError::Truncated),
            };
            self.pos += 1;
            let len = self.doc[self.pos..]
                .find(quote)
                .ok_or(XmlError::Truncated)?;
            let value = unescape(&self.doc[self.pos..self.pos + len])?;
            self.pos += len + 1;
            if !name.starts_with("xmlns") {
                element.attrs.push((local(name).to_owned(), value));
            }
        }
    }
}

/// Replaces entity and character references.
fn unescape(raw: &str) -> Result<String, XmlError> {
    if !raw.contains('&') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .ok_or_else(|| XmlError::Entity(rest[at + 1..].chars().take(8).collect()))?;
        let entity = &rest[at + 1..at + end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32)
                .ok_or_else(|| XmlError::Entity(entity.chars().take(8).collect()))?,
        };
        out.push(c);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_attributes_text_and_references() {
        let doc = r#"<?xml version="1.0"?><!-- hi --><a:r xmlns:a="x" k='v &amp; w'><b>1 &lt; 2 &#x41;&#66;</b><c u="q"/><![CDATA[<raw>]]></a:r>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "r");
        assert_eq!(root.attr("k"), Some("v & w"));
        assert_eq!(root.child_text("b"), Some("1 < 2 AB"));
        assert_eq!(root.child("c").unwrap().attr("u"), Some("q"));
        assert_eq!(root.text, "<raw>");
    }

    #[test]
    fn refuses_what_it_should() {
        assert_eq!(
            parse("<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"),
            Err(XmlError::Doctype)
        );
        assert_eq!(
            parse("<a><b></a>"),
            Err(XmlError::Mismatch {
                open: "b".into(),
                found: "a".into()
            })
        );
        assert_eq!(parse("<a><b>"), Err(XmlError::Truncated));
        assert_eq!(
            parse("<a>&bogus;</a>"),
            Err(XmlError::Entity("bogus".into()))
        );
        assert!(matches!(parse("<a/><b/>"), Err(XmlError::Malformed(_))));
        assert_eq!(parse(&"<a>".repeat(20)), Err(XmlError::TooDeep));
        let big = format!("<a>{}</a>", "x".repeat(MAX_DOCUMENT));
        assert!(matches!(parse(&big), Err(XmlError::TooLarge(_))));
        assert!(parse("").is_err());
        assert!(parse("<a b></a>").is_err());
        assert!(parse("<a>&#xD800;</a>").is_err());
    }
}
