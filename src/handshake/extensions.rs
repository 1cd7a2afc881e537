//! `Sec-WebSocket-Extensions` values: the RFC 6455 section 9.1 grammar.
//!
//! ```text
//! extension-list = 1#extension
//! extension      = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! A quoted-string value must be a token once unescaped. Parsed values are stored unquoted;
//! serialisation therefore never needs quotes.

use std::borrow::Cow;
use std::fmt;

use super::{HandshakeError, SEC_WEBSOCKET_EXTENSIONS, is_tchar, is_token};

/// One element of an extension list: a name and its parameters, in order.
///
/// Names and parameters are tokens by construction, so serialising one (its `Display`)
/// always gives a valid header value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Extension {
    name: String,
    params: Vec<ExtensionParam>,
}

/// One `name[=value]` parameter of an [`Extension`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtensionParam {
    name: String,
    value: Option<String>,
}

impl Extension {
    /// An extension with no parameters. Fails unless `name` is a token.
    pub fn new(name: impl Into<String>) -> Result<Self, HandshakeError> {
        let name = name.into();
        if !is_token(name.as_bytes()) {
            return Err(config_error(format!(
                "extension name {name:?} is not a token"
            )));
        }
        Ok(Self {
            name,
            params: Vec::new(),
        })
    }

    /// Adds a parameter, with or without a value. Fails unless the name and the value are
    /// tokens.
    pub fn with_param(
        mut self,
        name: impl Into<String>,
        value: Option<&str>,
    ) -> Result<Self, HandshakeError> {
        let name = name.into();
        if !is_token(name.as_bytes()) || value.is_some_and(|v| !is_token(v.as_bytes())) {
            return Err(config_error(format!(
                "extension parameter {name:?}={value:?} is not a token"
            )));
        }
        self.params.push(ExtensionParam {
            name,
            value: value.map(str::to_owned),
        });
        Ok(self)
    }

    /// Parses a single extension such as `permessage-deflate; client_max_window_bits`.
    pub fn parse(s: &str) -> Result<Self, HandshakeError> {
        let mut list = parse_extensions([s.as_bytes()])?;
        if list.len() != 1 {
            return Err(grammar_error("expected exactly one extension"));
        }
        Ok(list.remove(0))
    }

    /// The extension's name, e.g. `permessage-deflate`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[ExtensionParam] {
        &self.params
    }

    /// The first parameter called `name` (ASCII case-insensitive).
    pub fn param(&self, name: &str) -> Option<&ExtensionParam> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

impl ExtensionParam {
    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameter's value, unquoted; `None` for a bare parameter.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for p in &self.params {
            write!(f, "; {}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

/// Serialises a list of extensions as one header value: `a; p=1, b`.
pub fn serialize_extensions(list: &[Extension]) -> String {
    let mut out = String::new();
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&e.to_string());
    }
    out
}

/// Parses the values of every `Sec-WebSocket-Extensions` line, merged into one list in
/// order (HS-N-04). Each line must hold at least one extension; empty list elements
/// (`a, , b`) are skipped as RFC 9110 section 5.6.1 allows. Any other breach of the grammar
/// is an error naming the header (400 on a server).
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Extension>, HandshakeError> {
    let mut out = Vec::new();
    for value in values {
        Cursor { s: value, i: 0 }.parse_list(Some(&mut out))?;
    }
    Ok(out)
}

/// Checks what [`parse_extensions`] checks, without building the list: for a server that
/// may never look at the offer.
pub(crate) fn check_extensions<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(), HandshakeError> {
    for value in values {
        Cursor { s: value, i: 0 }.parse_list(None)?;
    }
    Ok(())
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn token(&mut self, what: &'static str) -> Result<&'a [u8], HandshakeError> {
        let rest = self.s.get(self.i..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| !is_tchar(b))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(grammar_error(what));
        }
        self.i += len;
        Ok(&rest[..len])
    }

    fn quoted(&mut self) -> Result<Vec<u8>, HandshakeError> {
        self.i += 1; // opening quote
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err(grammar_error("unterminated quoted string")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    let escaped = self
                        .s
                        .get(self.i + 1)
                        .copied()
                        .ok_or_else(|| grammar_error("unterminated quoted string"))?;
                    value.push(escaped);
                    self.i += 2;
                }
                Some(b) => {
                    value.push(b);
                    self.i += 1;
                }
            }
        }
        if !is_token(&value) {
            return Err(grammar_error("quoted parameter value is not a token"));
        }
        Ok(value)
    }

    /// Parses one line's list, appending its extensions to `out` when given (otherwise only
    /// checking the grammar). Fails on a line without any extension.
    fn parse_list(&mut self, mut out: Option<&mut Vec<Extension>>) -> Result<(), HandshakeError> {
        let mut found = false;
        loop {
            self.skip_ows();
            match self.peek() {
                None => break,
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                Some(_) => {}
            }
            let name = self.token("expected an extension name")?;
            let mut params = Vec::new();
            self.skip_ows();
            while self.peek() == Some(b';') {
                self.i += 1;
                self.skip_ows();
                let pname = self.token("expected a parameter name")?;
                self.skip_ows();
                let mut value = None;
                if self.peek() == Some(b'=') {
                    self.i += 1;
                    self.skip_ows();
                    value = Some(if self.peek() == Some(b'"') {
                        Cow::Owned(self.quoted()?)
                    } else {
                        Cow::Borrowed(self.token("expected a parameter value")?)
                    });
                    self.skip_ows();
                }
                if out.is_some() {
                    params.push(ExtensionParam {
                        name: ascii_string(pname),
                        value: value.as_deref().map(ascii_string),
                    });
                }
            }
            found = true;
            if let Some(out) = out.as_deref_mut() {
                out.push(Extension {
                    name: ascii_string(name),
                    params,
                });
            }
            match self.peek() {
                None => break,
                Some(b',') => self.i += 1,
                Some(_) => return Err(grammar_error("unexpected character")),
            }
        }
        if !found {
            return Err(grammar_error("empty extension list"));
        }
        Ok(())
    }
}

/// A token as a `String` (tokens are ASCII, so the check cannot fail).
fn ascii_string(token: &[u8]) -> String {
    std::str::from_utf8(token).unwrap_or_default().to_owned()
}

fn grammar_error(reason: &'static str) -> HandshakeError {
    HandshakeError::InvalidHeader {
        name: SEC_WEBSOCKET_EXTENSIONS,
        reason,
    }
}

fn config_error(reason: String) -> HandshakeError {
    HandshakeError::InvalidConfig { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Extension>, HandshakeError> {
        parse_extensions([s.as_bytes()])
    }

    // HS-N-03
    #[test]
    fn hs_n_03_grammar_tokens_params_quoted() {
        let list = parse(
            "permessage-deflate; client_max_window_bits=\"10\"; server_no_context_takeover, x-foo",
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name(), "permessage-deflate");
        assert_eq!(
            list[0].param("client_max_window_bits").unwrap().value(),
            Some("10")
        );
        assert_eq!(
            list[0].param("server_no_context_takeover").unwrap().value(),
            None
        );
        assert_eq!(list[1], Extension::new("x-foo").unwrap());
        let names: Vec<&str> = list[0].params().iter().map(ExtensionParam::name).collect();
        assert_eq!(
            names,
            ["client_max_window_bits", "server_no_context_takeover"]
        );
        // Escapes are undone before the token check.
        let list = parse("a; b=\"1\\0\"").unwrap();
        assert_eq!(list[0].params()[0].value(), Some("10"));
        // Whitespace around separators is optional whitespace.
        assert_eq!(parse("a ;b = 1 ,\tc").unwrap().len(), 2);
    }

    // HS-N-03
    #[test]
    fn hs_n_03_grammar_violations_fail() {
        for bad in [
            "permessage-deflate;;",
            "permessage-deflate;",
            "a; b=",
            "a; b=\"\"",
            "a; b=\"x y\"",
            "a; b=\"10",
            "a; b=\"1\\",
            "a b",
            "a; =1",
            "a/b",
            "",
            " , ",
            "a; b=1=2",
            "\"a\"",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.header(), Some(SEC_WEBSOCKET_EXTENSIONS), "{bad:?}");
            assert_eq!(err.status(), Some(400), "{bad:?}");
        }
    }

    // HS-N-04, HS-C-10
    #[test]
    fn hs_n_04_lines_merge_and_serialise() {
        let list = parse_extensions([&b"foo"[..], b"bar; x=1"]).unwrap();
        assert_eq!(
            list.iter().map(Extension::name).collect::<Vec<_>>(),
            ["foo", "bar"]
        );
        assert_eq!(serialize_extensions(&list), "foo, bar; x=1");
        let pmd = Extension::new("permessage-deflate")
            .unwrap()
            .with_param("client_max_window_bits", None)
            .unwrap();
        assert_eq!(
            pmd.to_string(),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(Extension::parse(&pmd.to_string()).unwrap(), pmd);
    }

    #[test]
    fn builder_rejects_non_tokens() {
        assert!(Extension::new("a b").is_err());
        assert!(Extension::new("").is_err());
        assert!(
            Extension::new("a")
                .unwrap()
                .with_param("p", Some("x\r\n"))
                .is_err()
        );
        assert!(Extension::parse("a, b").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse_extensions([&s[..]]);
        }

        #[test]
        fn serialise_parse_round_trip(
            names in proptest::collection::vec("[a-z][a-z0-9_-]{0,8}", 1..4),
            value in proptest::option::of("[0-9a-z]{1,4}"),
        ) {
            let list: Vec<Extension> = names
                .iter()
                .map(|n| Extension::new(n.clone()).unwrap().with_param("p", value.as_deref()).unwrap())
                .collect();
            let text = serialize_extensions(&list);
            proptest::prop_assert_eq!(parse(&text).unwrap(), list);
        }
    }
}
