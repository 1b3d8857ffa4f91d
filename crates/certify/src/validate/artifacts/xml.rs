//! A small, strict XML reader: elements, their attributes and their child elements, nothing else.
//! Enough to read JUnit files the way Go's `encoding/xml` does (text, comments, processing
//! instructions and the doctype are skipped; a mismatched or unclosed tag, an unquoted attribute or an
//! unknown entity is an error), without a dependency for it.
//!
//! The tree is built, and dropped, with an explicit stack, so a deeply nested file cannot overflow the
//! call stack; as in Go, nesting deeper than [`MAX_DEPTH`] is an error.

/// Go's `encoding/xml` refuses to unmarshal elements nested deeper than this.
pub const MAX_DEPTH: usize = 10_000;

/// One element: its local name (without a namespace prefix), attributes and child elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Drop for Element {
    /// Drops the descendants one by one instead of recursively.
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.children);
        while let Some(mut element) = pending.pop() {
            pending.append(&mut element.children);
        }
    }
}

impl Element {
    /// The value of the attribute with this local name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parses `text` and returns its root element. Like Go's `xml.Unmarshal`, what follows the root
/// element is not read.
///
/// # Errors
/// A message saying what is wrong and at which line.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut reader = Reader { text, at: 0 };
    let mut stack: Vec<Element> = Vec::new();
    loop {
        if reader.at >= text.len() {
            return Err(match stack.last() {
                Some(open) => format!("unexpected end of file: <{}> is not closed", open.name),
                None => "no root element".to_string(),
            });
        }
        let rest = reader.rest();
        if let Some(skipped) =
            [("<?", "?>"), ("<!--", "-->"), ("<![CDATA[", "]]>")].into_iter().find(|(open, _)| rest.starts_with(open))
        {
            reader.skip_past(skipped.1)?;
        } else if rest.starts_with("<!") {
            reader.skip_doctype()?;
        } else if rest.starts_with("</") {
            reader.at += 2;
            let name = reader.name()?;
            reader.skip_space();
            reader.expect('>')?;
            let Some(element) = stack.pop() else {
                return Err(reader.error(&format!("</{name}> closes no element")));
            };
            if local(&name) != element.name {
                return Err(reader.error(&format!("<{}> is closed by </{name}>", element.name)));
            }
            match stack.last_mut() {
                Some(parent) => parent.children.push(element),
                None => return Ok(element),
            }
        } else if rest.starts_with('<') {
            reader.at += 1;
            let (element, closed) = reader.start_tag()?;
            if !closed && stack.len() >= MAX_DEPTH {
                return Err(reader.error(&format!("elements are nested deeper than {MAX_DEPTH}")));
            }
            match (closed, stack.last_mut()) {
                (true, Some(parent)) => parent.children.push(element),
                (true, None) => return Ok(element),
                (false, _) => stack.push(element),
            }
        } else {
            // Character data: only its entities are checked.
            let end = rest.find('<').map_or(text.len(), |i| reader.at + i);
            decode(&text[reader.at..end]).map_err(|e| reader.error(&e))?;
            reader.at = end;
        }
    }
}

/// The local part of a qualified name (`ns:testcase` → `testcase`).
fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_string()
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn error(&self, what: &str) -> String {
        let line = self.text[..self.at.min(self.text.len())].matches('\n').count() + 1;
        format!("XML syntax error on line {line}: {what}")
    }

    fn skip_past(&mut self, end: &str) -> Result<(), String> {
        match self.rest().find(end) {
            Some(i) => {
                self.at += i + end.len();
                Ok(())
            }
            None => Err(self.error(&format!("unexpected end of file: no closing {end}"))),
        }
    }

    /// Skips `<!DOCTYPE …>`, whose internal subset may hold `[…]` with `>` inside.
    fn skip_doctype(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        for (i, c) in self.rest().char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '[') => depth += 1,
                (None, ']') => depth = depth.saturating_sub(1),
                (None, '>') if depth == 0 => {
                    self.at += i + 1;
                    return Ok(());
                }
                _ => {}
            }
        }
        Err(self.error("unexpected end of file in a <! declaration"))
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len();
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.rest().starts_with(c) {
            self.at += c.len_utf8();
            Ok(())
        } else {
            let found = self.rest().chars().next().map_or("the end of the file".to_string(), |f| format!("'{f}'"));
            Err(self.error(&format!("expected '{c}', found {found}")))
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | '-') || !c.is_ascii()))
            .map_or(rest.len(), |(i, _)| i);
        let name = rest[..end].to_string();
        match name.chars().next() {
            Some(first) if !first.is_ascii_digit() && !matches!(first, '.' | '-') => {
                self.at += end;
                Ok(name)
            }
            _ => Err(self.error("invalid element or attribute name")),
        }
    }

    /// Reads a start tag after its `<`: the element, and whether it closed itself (`/>`).
    fn start_tag(&mut self) -> Result<(Element, bool), String> {
        let name = self.name()?;
        let mut element = Element { name: local(&name), attributes: Vec::new(), children: Vec::new() };
        loop {
            let before = self.at;
            self.skip_space();
            if self.rest().starts_with("/>") {
                self.at += 2;
                return Ok((element, true));
            }
            if self.rest().starts_with('>') {
                self.at += 1;
                return Ok((element, false));
            }
            if self.at == before {
                return Err(self.error(&format!("expected an attribute or the end of <{name}>")));
            }
            let key = self.name()?;
            self.skip_space();
            self.expect('=')?;
            self.skip_space();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return Err(self.error(&format!("unquoted or missing value of attribute {key}"))),
            };
            self.at += 1;
            let Some(len) = self.rest().find(quote) else {
                return Err(self.error(&format!("unexpected end of file in attribute {key}")));
            };
            let raw = &self.rest()[..len];
            if raw.contains('<') {
                return Err(self.error(&format!("unescaped < in attribute {key}")));
            }
            let value = decode(raw).map_err(|e| self.error(&e))?;
            self.at += len + 1;
            element.attributes.push((local(&key), value));
        }
    }
}

/// Replaces the five predefined entities and character references; any other entity is an error.
fn decode(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(semi) = after.find(';') else {
            return Err("an & that starts no entity (write &amp;)".into());
        };
        let entity = &after[..semi];
        let c = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => match entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok().and_then(char::from_u32),
                None => entity.strip_prefix('#').and_then(|d| d.parse().ok()).and_then(char::from_u32),
            },
        };
        match c {
            Some(c) => out.push(c),
            None => return Err(format!("invalid character entity &{entity};")),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_attributes_and_children() {
        let root = parse(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY a \"b>\">]>\n<!-- c -->\n<ns:a k='v &amp; &#x41;&#66;'>\
             text &lt; <b/><![CDATA[<not/>]]><c x=\"1\"><d></d></c></ns:a>trailing <junk",
        )
        .unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.attribute("k"), Some("v & AB"));
        let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(root.children[1].children[0].name, "d");
    }

    #[test]
    fn malformed_files_are_errors() {
        for (text, says) in [
            ("", "no root element"),
            ("  <!-- only a comment -->", "no root element"),
            ("<a><b></a>", "<b> is closed by </a>"),
            ("<a>", "<a> is not closed"),
            ("<a k=v/>", "unquoted"),
            ("<a k/>", "expected '='"),
            ("<a k=\"x/>", "unexpected end of file in attribute k"),
            ("<a>&nbsp;</a>", "invalid character entity &nbsp;"),
            ("<a>AT&T</a>", "starts no entity"),
            ("<1a/>", "invalid element or attribute name"),
            ("<a><!-- x</a>", "no closing -->"),
            ("</a>", "closes no element"),
            ("<a\n\n k='<'/>", "line 3: unescaped <"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert_eq!(parse(&nested(MAX_DEPTH)).unwrap().name, "a");
        assert!(parse(&nested(MAX_DEPTH + 1)).unwrap_err().contains("nested deeper than 10000"));
    }
}
