//! A small reference reading of RFC 6455 for a server receiving a client's byte stream,
//! written straight from the RFC's rules and independent of the crate's decoder. The
//! differential target holds both the crate and tungstenite against it.
//!
//! Where the RFC lets an endpoint choose, the reference states the crate's documented
//! policy: lengths must use the minimal encoding (FR-12, RFC 6455 section 5.2 "the minimal
//! number of bytes MUST be used"), frames over 16 MiB fail with 1009, and invalid UTF-8 fails
//! as soon as a received prefix cannot start valid text (section 8.1 allows failing fast).
//! Where one frame breaks several rules, any of their close codes is accepted: the order in
//! which an endpoint checks them is not specified.

/// A delivered data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// What a conforming server does with a stream.
#[derive(Debug)]
pub struct Reading {
    /// The messages it delivers.
    pub messages: Vec<Message>,
    /// `None`: no violation. `Some(codes)`: it fails the connection with one of `codes`.
    pub fails_with: Option<Vec<u16>>,
    /// The rules broken, by RFC section (for reports).
    pub rules: Vec<&'static str>,
    /// How much of the stream is decided: complete frames up to a valid Close, the frame
    /// breaking a rule (as much of it as is present), or the last complete frame. A trailing incomplete frame is
    /// left out, so the verdict does not depend on how early an endpoint decides.
    pub end: usize,
}

/// The frame limit of the crate's default configuration.
pub const MAX_FRAME: u64 = 16 << 20;

fn close_code_valid(code: u16) -> bool {
    // RFC 6455 section 7.4.1 and 7.4.2, and the IANA registry (1012-1014).
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Reads `stream` as a server (client frames, masked).
pub fn server_reads(stream: &[u8]) -> Reading {
    let mut messages = Vec::new();
    // The data message being reassembled: (is text, bytes so far).
    let mut partial: Option<(bool, Vec<u8>)> = None;
    let mut pos = 0;
    let mut rules = Vec::new();
    let done = |messages, fails: Option<Vec<u16>>, end, rules| Reading {
        messages,
        fails_with: fails,
        rules,
        end,
    };
    loop {
        let s = &stream[pos..];
        if s.len() < 2 {
            return done(messages, None, pos, rules);
        }
        let (fin, rsv, opcode) = (s[0] & 0x80 != 0, s[0] & 0x70, s[0] & 0x0f);
        let (masked, len7) = (s[1] & 0x80 != 0, s[1] & 0x7f);
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext + if masked { 4 } else { 0 };
        if s.len() < header_len {
            return done(messages, None, pos, rules);
        }
        let len = match len7 {
            126 => u64::from(u16::from_be_bytes([s[2], s[3]])),
            127 => u64::from_be_bytes(s[2..10].try_into().expect("8 bytes")),
            n => u64::from(n),
        };
        let control = opcode & 0x8 != 0;
        let mut codes = Vec::new();
        let mut rule = |broken: bool, code: u16, label: &'static str| {
            if broken {
                codes.push(code);
                rules.push(label);
            }
        };
        rule(rsv != 0, 1002, "5.2: no extension negotiated");
        rule(
            !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10),
            1002,
            "5.2: reserved opcodes",
        ); // 5.2: reserved opcodes
        rule(!masked, 1002, "5.1: client frames are masked");
        rule(
            control && !fin,
            1002,
            "5.5: control frames are not fragmented",
        ); // 5.5: control frames are not fragmented
        rule(
            control && len > 125,
            1002,
            "5.5: control payload at most 125",
        ); // 5.5: control payload at most 125
        rule(
            len >> 63 != 0,
            1002,
            "5.2: the top bit of a 64-bit length is 0",
        ); // 5.2: the top bit of a 64-bit length is 0
        rule(
            (len7 == 126 && len < 126) || (len7 == 127 && len < 65536),
            1002,
            "5.2: non-minimal length (policy FR-12)",
        );
        rule(
            opcode == 0 && partial.is_none(),
            1002,
            "5.4: continuation of nothing",
        ); // 5.4: continuation of nothing
        rule(
            matches!(opcode, 1 | 2) && partial.is_some(),
            1002,
            "5.4: interleaved message",
        ); // 5.4: interleaved message
        rule(
            len > MAX_FRAME && len >> 63 == 0,
            1009,
            "policy: frame limit",
        ); // policy: frame limit
        if !codes.is_empty() {
            // The whole frame, as far as it is there: some endpoints check only complete frames.
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| (pos + header_len).checked_add(len))
                .filter(|end| *end <= stream.len());
            if end.is_none() {
                rules.push("(frame incomplete: decided from its header)");
            }
            return done(messages, Some(codes), end.unwrap_or(stream.len()), rules);
        }
        let Some(payload) = usize::try_from(len)
            .ok()
            .and_then(|len| s.get(header_len..header_len + len))
        else {
            return done(messages, None, pos, rules);
        };
        let key = &s[header_len - 4..header_len];
        let payload: Vec<u8> = payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        pos += header_len + payload.len();
        match opcode {
            0..=2 => {
                let (text, data) = partial.get_or_insert_with(|| (opcode == 1, Vec::new()));
                data.extend_from_slice(&payload);
                if *text {
                    let broken = match std::str::from_utf8(data) {
                        Ok(_) => false,
                        // An error with a length is invalid; without, an incomplete end,
                        // which is invalid only at the end of the message.
                        Err(e) => e.error_len().is_some() || fin,
                    };
                    if broken {
                        return done(messages, Some(vec![1007]), pos, vec!["8.1: invalid UTF-8"]);
                    }
                }
                if fin {
                    let (text, data) = partial.take().expect("a message");
                    messages.push(if text {
                        Message::Text(String::from_utf8(data).expect("checked"))
                    } else {
                        Message::Binary(data)
                    });
                }
            }
            8 => {
                let mut codes = Vec::new();
                if payload.len() == 1 {
                    codes.push(1002);
                    rules.push("5.5.1: one-byte close body");
                }
                if payload.len() >= 2 {
                    if !close_code_valid(u16::from_be_bytes([payload[0], payload[1]])) {
                        codes.push(1002);
                        rules.push("7.4: invalid close code");
                    }
                    if std::str::from_utf8(&payload[2..]).is_err() {
                        codes.push(1007);
                        rules.push("5.5.1: close reason not UTF-8");
                    }
                }
                let fails = (!codes.is_empty()).then_some(codes);
                // After a Close, nothing more is read (5.5.1).
                return done(messages, fails, pos, rules);
            }
            _ => {} // Ping, Pong
        }
    }
}
