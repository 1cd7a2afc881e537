//! UTF-8 text as shared bytes, and an incremental, fail-fast validator (FR-23 to FR-27).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;

/// Shared, immutable bytes that are guaranteed to be valid UTF-8.
///
/// Cloning is cheap (a reference count), and converting into [`Bytes`] never copies.
#[derive(Clone)]
pub struct Utf8Bytes(Repr);

/// Where the text lives. Only `Bytes` needs its check repeated to be read as a `str` in
/// safe code; the received messages that were copied anyway are copied into an `Arc<str>`,
/// which reads as a `str` for free.
#[derive(Clone)]
enum Repr {
    Bytes(Bytes),
    Shared(Arc<str>),
    /// Part of a shared `str`, cut at character boundaries: the small messages of one read
    /// share one copy (see `message::TextRun`).
    Slice(Arc<str>, u32, u32),
    Static(&'static str),
}

/// `text[start..end]` of a [`Repr::Slice`], or `None` if the bounds are not a range of `text`
/// cut at character boundaries (which [`Utf8Bytes::slice_of`] never makes).
fn slice(text: &str, start: u32, end: u32) -> Option<&str> {
    text.get(start as usize..end as usize)
}

/// An `Arc<str>` as the owner of a [`Bytes`], for [`Utf8Bytes::into_bytes`].
struct SharedStr(Arc<str>);

impl AsRef<[u8]> for SharedStr {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Self(Repr::Static(""))
    }

    /// A string from a static `str`, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Repr::Static(s))
    }

    /// Checks `bytes` and wraps them, or gives them back with the error.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        if simdutf8::basic::from_utf8(&bytes).is_err() {
            // The fast check only says no; std's says where.
            std::str::from_utf8(&bytes)?;
        }
        Ok(Self(Repr::Bytes(bytes)))
    }

    /// Wraps bytes that the caller has already validated.
    pub(crate) fn from_bytes_unchecked(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(Repr::Bytes(bytes))
    }

    /// A copy of `text` whose [`as_str`](Self::as_str) costs nothing.
    pub(crate) fn copy_from_str(text: &str) -> Self {
        Self(Repr::Shared(Arc::from(text)))
    }

    /// `text[range]` without a copy of its own: the result keeps all of `text` alive.
    ///
    /// `range` must be cut at character boundaries of `text` and end before 4 GiB (checked in
    /// debug builds only: the small-message path guarantees it, and its tests and fuzz
    /// targets run with the check). A range that is not would read as an empty string, never
    /// as invalid text and never with a panic.
    pub(crate) fn slice_of(text: Arc<str>, range: std::ops::Range<usize>) -> Self {
        debug_assert!(text.get(range.clone()).is_some(), "not a str range");
        debug_assert!(u32::try_from(range.end).is_ok(), "past 4 GiB");
        Self(Repr::Slice(text, range.start as u32, range.end as u32))
    }

    /// Validates `bytes` and copies them into a shared `str`, so that
    /// [`as_str`](Self::as_str) costs nothing later.
    pub(crate) fn copy_from_utf8(bytes: &[u8]) -> Result<Self, InvalidUtf8> {
        let text = simdutf8::basic::from_utf8(bytes).map_err(|_| InvalidUtf8)?;
        Ok(Self::copy_from_str(text))
    }

    /// The text.
    ///
    /// Free for text that was copied when it was received (every message under 4 KiB) or
    /// built from a `str`. Text kept in shared [`Bytes`] (a large received message split off
    /// the read buffer without a copy, or [`try_from_bytes`](Self::try_from_bytes)) is checked
    /// again on every call, in safe code: about 0.9 µs for 46 KB of mixed-width text on an
    /// AVX-512 machine, three times a copy. Every use through `Deref` (`text.contains(..)`,
    /// `&*text`) is such a call: take the `&str` once and keep it.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The invariant of the type: the bytes were validated on construction. The
            // check here is repeated in safe code (SIMD) and cannot fail.
            Repr::Bytes(bytes) => match simdutf8::basic::from_utf8(bytes) {
                Ok(s) => s,
                Err(_) => unreachable!("Utf8Bytes holds valid UTF-8 by construction"),
            },
            Repr::Shared(text) => text,
            // Cut at character boundaries on construction: `get` cannot fail.
            Repr::Slice(text, start, end) => slice(text, *start, *end).unwrap_or(""),
            Repr::Static(text) => text,
        }
    }

    /// The length in bytes (without re-checking the text, unlike going through `Deref`).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Bytes(bytes) => bytes,
            Repr::Shared(text) => text.as_bytes(),
            Repr::Slice(text, start, end) => slice(text, *start, *end).unwrap_or("").as_bytes(),
            Repr::Static(text) => text.as_bytes(),
        }
    }

    /// The underlying shared bytes.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Bytes(bytes) => bytes,
            Repr::Shared(text) => Bytes::from_owner(SharedStr(text)),
            Repr::Slice(text, start, end) => match slice(&text, start, end) {
                Some(_) => Bytes::from_owner(SharedStr(text)).slice(start as usize..end as usize),
                None => Bytes::new(),
            },
            Repr::Static(text) => Bytes::from_static(text.as_bytes()),
        }
    }
}

impl Default for Utf8Bytes {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Utf8Bytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Utf8Bytes {}

impl PartialOrd for Utf8Bytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Utf8Bytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Utf8Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `Bytes` hashes: the slice.
        self.as_bytes().hash(state);
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Self(Repr::Bytes(Bytes::from(s)))
    }
}

impl From<&str> for Utf8Bytes {
    /// Copies the text. Use [`Utf8Bytes::from_static`] to avoid the copy for a `&'static str`.
    fn from(s: &str) -> Self {
        Self(Repr::Bytes(Bytes::copy_from_slice(s.as_bytes())))
    }
}

impl From<&String> for Utf8Bytes {
    /// Copies the text.
    fn from(s: &String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<Box<str>> for Utf8Bytes {
    fn from(s: Box<str>) -> Self {
        Self::from(String::from(s))
    }
}

impl From<Arc<str>> for Utf8Bytes {
    /// Shares the text without copying; reading it back as a `str` costs nothing.
    fn from(s: Arc<str>) -> Self {
        Self(Repr::Shared(s))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// The same as [`Utf8Bytes::try_from_bytes`].
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        Self::try_from_bytes(bytes)
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Checks the bytes and takes them without copying.
    fn try_from(bytes: Vec<u8>) -> Result<Self, Self::Error> {
        Self::try_from_bytes(Bytes::from(bytes))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Self {
        s.into_bytes()
    }
}

impl From<Utf8Bytes> for String {
    /// Copies the text.
    fn from(s: Utf8Bytes) -> Self {
        s.as_str().to_owned()
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<Utf8Bytes> for str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        other == self
    }
}

impl PartialEq<Utf8Bytes> for &str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        other == self
    }
}

impl PartialEq<Utf8Bytes> for String {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        other == self
    }
}

/// Incremental UTF-8 validation over a message delivered in pieces.
///
/// Fail-fast (FR-25): [`feed`](Self::feed) reports an error as soon as the bytes seen so far
/// cannot be the start of valid UTF-8, even when the piece ends in the middle of a code
/// point or of a frame. A code point split across pieces is fine (FR-24); an incomplete
/// code point at the end of the message is caught by [`finish`](Self::finish) (FR-26).
#[derive(Clone, Debug, Default)]
pub(crate) struct Utf8Validator {
    /// The bytes of an incomplete code point at the end of the last piece.
    partial: [u8; 4],
    partial_len: u8,
}

/// The input can no longer become valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl From<InvalidUtf8> for crate::frame::ProtocolError {
    /// Invalid text from the peer fails the connection with 1007 (FR-23 to FR-27).
    fn from(_: InvalidUtf8) -> Self {
        Self::InvalidUtf8
    }
}

impl Utf8Validator {
    /// Validates the next piece. Returns how many bytes at the end of `piece` are an
    /// incomplete code point held back for the next piece (0 to 3).
    pub(crate) fn feed(&mut self, mut piece: &[u8]) -> Result<usize, InvalidUtf8> {
        if self.partial_len > 0 {
            // Complete the held code point with the first bytes of this piece.
            let have = self.partial_len as usize;
            let need = utf8_width(self.partial[0]).ok_or(InvalidUtf8)?;
            let take = (need - have).min(piece.len());
            self.partial[have..have + take].copy_from_slice(&piece[..take]);
            let filled = have + take;
            match std::str::from_utf8(&self.partial[..filled]) {
                Ok(_) => {
                    self.partial_len = 0;
                    piece = &piece[take..];
                }
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {
                    // Still incomplete: the piece was too short to finish it.
                    self.partial_len = filled as u8;
                    return Ok(filled - have);
                }
            }
        }
        // A code point cut off at the end is held back; the rest is checked whole by
        // simdutf8's fast validator, and the held bytes (at most 3) by std, which tells a
        // valid beginning from bytes that cannot become valid (FR-25). simdutf8's compat API
        // did both in one call, but on a piece that ends inside a code point (most pieces of
        // non-ASCII text) it found the end with std's scalar check from the last block on
        // (perf, 1 KiB texts in 1500-byte reads: 11% of the time in the two).
        let tail = &piece[piece.len() - incomplete_tail_len(piece)..];
        let whole = &piece[..piece.len() - tail.len()];
        simdutf8::basic::from_utf8(whole).map_err(|_| InvalidUtf8)?;
        if tail.is_empty() {
            return Ok(0);
        }
        match std::str::from_utf8(tail) {
            Err(e) if e.error_len().is_none() => {
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(tail.len())
            }
            // `tail` is a lead byte wider than it, and continuation bytes: never complete.
            _ => Err(InvalidUtf8),
        }
    }

    /// Ends the message: an incomplete code point left over is an error (FR-26).
    pub(crate) fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let incomplete = self.partial_len != 0;
        self.partial_len = 0;
        if incomplete { Err(InvalidUtf8) } else { Ok(()) }
    }

    /// The bytes of the incomplete code point held back, if any.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.partial[..self.partial_len as usize]
    }
}

/// How many bytes at the end of `piece` are the beginning of a code point that the piece
/// cuts off: a lead byte wider than what follows it (at most 3 bytes), else 0. The bytes are
/// not checked beyond that: a tail of bytes that cannot begin a code point is left in the
/// piece, where the validator rejects it.
fn incomplete_tail_len(piece: &[u8]) -> usize {
    for back in 1..=piece.len().min(3) {
        let byte = piece[piece.len() - back];
        if byte & 0xc0 != 0x80 {
            return match utf8_width(byte) {
                Some(width) if width > back => back,
                _ => 0,
            };
        }
    }
    0
}

/// The length of the UTF-8 sequence that starts with `first`, if it can start one.
fn utf8_width(first: u8) -> Option<usize> {
    match first {
        0x00..=0x7f => Some(1),
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "héllo" in each of the four ways a `Utf8Bytes` holds text.
    fn hello_in_every_repr() -> [Utf8Bytes; 4] {
        [
            Utf8Bytes::from_static("héllo"),
            Utf8Bytes::try_from_bytes(Bytes::from_static("héllo".as_bytes())).unwrap(),
            Utf8Bytes::copy_from_str("héllo"),
            Utf8Bytes::slice_of(Arc::from("<héllo>"), 1..7),
        ]
    }

    // No checklist requirement of its own: equality, the conversions and the formatting read
    // the text, whichever way it is held; every FR-23 test that compares text events rests on
    // `eq`.
    #[test]
    fn equality_conversions_and_formatting_follow_the_text() {
        let other = Utf8Bytes::from("hello");
        for text in hello_in_every_repr() {
            for same in hello_in_every_repr() {
                assert_eq!(text, same);
            }
            assert_ne!(text, other);
            assert!(text == *"héllo" && text != *"hello");
            assert!(text == "héllo" && text != "hello");
            assert_eq!(AsRef::<str>::as_ref(&text), "héllo");
            assert_eq!(AsRef::<[u8]>::as_ref(&text), "héllo".as_bytes());
            assert_eq!(text.to_string(), "héllo");
            assert_eq!(format!("{text:?}"), "\"héllo\"");
            assert!(!text.is_empty() && text.len() == 6);
            assert_eq!(Bytes::from(text), "héllo".as_bytes());
        }
        assert!(Utf8Bytes::default().is_empty());
        assert!(Utf8Bytes::from_static("").is_empty());
    }

    fn feed_all(pieces: &[&[u8]]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::default();
        for p in pieces {
            v.feed(p)?;
        }
        v.finish()
    }

    // The representations are one value: equal, ordered and hashed by their bytes.
    #[test]
    fn representations_agree() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |t: &Utf8Bytes| {
            let mut h = DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        };
        let text = "κόσμε 𝄞";
        let all = [
            Utf8Bytes::from_static(text),
            Utf8Bytes::copy_from_str(text),
            Utf8Bytes::try_from_bytes(Bytes::from_static(text.as_bytes())).unwrap(),
            Utf8Bytes::from(text.to_owned()),
            Utf8Bytes::slice_of(Arc::from(format!("é{text}€")), 2..2 + text.len()),
        ];
        for a in &all {
            assert_eq!(a.as_str(), text);
            assert_eq!(a.clone().into_bytes(), text.as_bytes());
            for b in &all {
                assert_eq!(a, b);
                assert_eq!(a.cmp(b), std::cmp::Ordering::Equal);
                assert_eq!(hash(a), hash(b));
                assert_eq!(hash(a), {
                    let mut h = DefaultHasher::new();
                    Bytes::from_static(text.as_bytes()).hash(&mut h);
                    h.finish()
                });
            }
        }
        assert!(Utf8Bytes::copy_from_str("a") < Utf8Bytes::from_static("b"));
        assert_eq!(Utf8Bytes::new(), Utf8Bytes::default());
        assert!(Utf8Bytes::new().is_empty());
    }

    // A slice whose bounds are not character boundaries (which the receive path never makes)
    // reads as empty text rather than panicking or exposing invalid UTF-8.
    #[test]
    fn a_slice_off_character_boundaries_reads_as_empty() {
        for (start, end) in [(1, 2), (0, 1), (0, 9), (5, 3)] {
            let text = Utf8Bytes(Repr::Slice(Arc::from("é€"), start, end));
            assert_eq!(text.as_str(), "", "{start}..{end}");
            assert!(text.as_bytes().is_empty(), "{start}..{end}");
            assert!(text.clone().into_bytes().is_empty(), "{start}..{end}");
        }
    }

    // FR-24: a code point split across pieces, one byte at a time.
    #[test]
    fn fr24_split_code_points_are_fine() {
        let text = "κόσμε 𝄞 ok".as_bytes();
        let pieces: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(feed_all(&pieces), Ok(()));
    }

    // FR-25: fail-fast inside a piece and at a piece boundary (Autobahn 6.4.1, 6.4.2).
    #[test]
    fn fr25_fail_fast() {
        let mut v = Utf8Validator::default();
        assert_eq!(
            v.feed(&[
                0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5
            ]),
            Ok(0)
        );
        assert_eq!(v.feed(&[0xf4]), Ok(1));
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
    }

    // FR-24: a code point fed a byte at a time is held back until complete; each call says
    // how many of its bytes it held back.
    #[test]
    fn fr24_a_code_point_a_byte_at_a_time() {
        let mut v = Utf8Validator::default();
        for (byte, held) in [(0xf0, 1), (0x9f, 1), (0x98, 1), (0x80, 0)] {
            assert_eq!(v.feed(&[byte]), Ok(held), "{byte:#x}");
        }
        assert_eq!(v.pending(), b"");
        assert_eq!(v.finish(), Ok(()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        // FR-24, FR-25: after every piece, the validator fails exactly when the bytes so far
        // can no longer become valid UTF-8 (std's `error_len()` is `Some`), and otherwise
        // holds back exactly the incomplete code point at their end. The bytes are drawn
        // from the ones that matter: ASCII, lead bytes of every width including the special
        // ones (E0, ED, F0, F4) and the never-valid ones, and continuation bytes at the edges
        // of the ranges those leads allow.
        #[test]
        fn every_piece_is_judged_as_std_judges_the_prefix(
            bytes in proptest::collection::vec(proptest::sample::select(vec![
                b'a', b' ', 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf3, 0xf4,
                0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xf5, 0xff,
            ]), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut v = Utf8Validator::default();
            let mut from = 0;
            for cut in cuts {
                let got = v.feed(&bytes[from..cut]);
                let prefix = &bytes[..cut];
                match std::str::from_utf8(prefix) {
                    Ok(_) => proptest::prop_assert_eq!(got, Ok(0)),
                    Err(e) if e.error_len().is_some() => {
                        proptest::prop_assert_eq!(got, Err(InvalidUtf8));
                        return Ok(());
                    }
                    Err(e) => {
                        proptest::prop_assert!(got.is_ok(), "{:x?}", prefix);
                        proptest::prop_assert_eq!(v.pending(), &prefix[e.valid_up_to()..]);
                    }
                }
                from = cut;
            }
            proptest::prop_assert_eq!(v.finish().is_ok(), std::str::from_utf8(&bytes).is_ok());
        }
    }

    // FR-26: an incomplete sequence at the end of the message.
    #[test]
    fn fr26_incomplete_at_end() {
        assert_eq!(feed_all(&[&[0xe2, 0x82]]), Err(InvalidUtf8));
    }

    // FR-27: overlong forms, surrogates and code points past U+10FFFF are invalid;
    // U+FFFE and U+FFFF are valid.
    #[test]
    fn fr27_rfc3629_rules() {
        assert_eq!(feed_all(&[&[0xc0, 0xaf]]), Err(InvalidUtf8));
        assert_eq!(feed_all(&[&[0xf4, 0x90, 0x80, 0x80]]), Err(InvalidUtf8));
        assert_eq!(feed_all(&[&[0xed, 0xa0], &[0x80]]), Err(InvalidUtf8));
        assert_eq!(feed_all(&[&[0xef, 0xbf, 0xbf]]), Ok(()));
        assert_eq!(feed_all(&[&[0xef], &[0xbf], &[0xbe]]), Ok(()));
        assert_eq!(
            feed_all(&[&[0xf8, 0x88, 0x80, 0x80, 0x80]]),
            Err(InvalidUtf8)
        );
    }

    // The conversions users of other `Utf8Bytes` types expect: from any owned or shared
    // string, checked from bytes, back to `String`, and equality both ways.
    #[test]
    fn conversions_and_comparisons() {
        let owned = String::from("héllo");
        let from_ref = Utf8Bytes::from(&owned);
        let from_box = Utf8Bytes::from(owned.clone().into_boxed_str());
        let shared: Arc<str> = Arc::from("héllo");
        let from_arc = Utf8Bytes::from(shared.clone());
        assert!(matches!(&from_arc.0, Repr::Shared(s) if Arc::ptr_eq(s, &shared)));
        let from_bytes = Utf8Bytes::try_from(Bytes::from(owned.clone())).unwrap();
        let from_vec = Utf8Bytes::try_from(owned.clone().into_bytes()).unwrap();
        for text in [&from_ref, &from_box, &from_arc, &from_bytes, &from_vec] {
            assert_eq!(text.as_str(), "héllo");
            assert_eq!(*text, owned);
            assert_eq!(owned, *text);
            assert_eq!(*text, "héllo");
            assert_eq!("héllo", *text);
            assert_eq!(*text, *"héllo");
            assert_eq!(*"héllo", *text);
            assert_eq!(String::from(text.clone()), owned);
        }
        let other = owned.replace('é', "e");
        assert_ne!(from_ref, "hello");
        assert_ne!("hello", from_ref);
        assert_ne!(*"hello", from_ref);
        assert_ne!(other, from_ref);
        assert_ne!(from_ref, other);
        assert!(Utf8Bytes::try_from(vec![0xc0, 0xaf]).is_err());
        assert!(Utf8Bytes::try_from(Bytes::from_static(&[0xed, 0xa0, 0x80])).is_err());
    }
}
