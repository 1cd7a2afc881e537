#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/: the RFC 6455 section 5.7 examples,
the violation-table inputs of tests/connection_violations.rs (both roles), runs of small
text messages, and the handshake fixtures. Run from anywhere; the output is deterministic and committed."""

import hashlib
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "seeds")
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def mask(payload, key=KEY):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(receiver, fin, op, payload, rsv=0):
    """A frame as the peer of `receiver` ('server' or 'client') sends it."""
    masked = receiver == "server"
    out = bytearray([(0x80 if fin else 0) | (rsv << 4) | op])
    n = len(payload)
    m = 0x80 if masked else 0
    if n < 126:
        out.append(m | n)
    elif n < 65536:
        out.append(m | 126)
        out += struct.pack(">H", n)
    else:
        out.append(m | 127)
        out += struct.pack(">Q", n)
    if masked:
        out += KEY
        out += mask(payload)
    else:
        out += payload
    return bytes(out)


def rfc_examples():
    """Section 5.7, as the receiver of each example sees it."""
    return {
        "client": [
            bytes.fromhex("810548656c6c6f"),
            bytes.fromhex("010348656c") + bytes.fromhex("80026c6f"),
            bytes.fromhex("890548656c6c6f"),
            bytes.fromhex("827e0100") + bytes(range(256)),
            bytes.fromhex("827f0000000000010000") + bytes(65536),
        ],
        "server": [
            bytes.fromhex("818537fa213d7f9f4d5158"),
            bytes.fromhex("8a8537fa213d7f9f4d5158"),
            frame("server", False, 1, b"Hel") + frame("server", True, 0, b"lo"),
            frame("server", True, 2, bytes(range(256))),
            frame("server", True, 9, b"ping") + frame("server", True, 8, b"\x03\xe8bye"),
        ],
    }


def violations(role):
    """The rows of tests/connection_violations.rs for a receiver of `role`."""
    f = lambda fin, op, p, rsv=0: frame(role, fin, op, p, rsv)
    m = 0x80 if role == "server" else 0
    rows = [
        f(True, 1, b"a", 0b100),
        f(True, 9, b"", 0b001),
        f(True, 3, b""),
        f(True, 0xB, b""),
        f(True, 9, bytes(126)),
        f(False, 9, b""),
        f(True, 0, b"a"),
        f(False, 1, b"a") + f(True, 1, b"b"),
        f(True, 1, bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")),
        f(True, 1, bytes.fromhex("e282")),
        f(True, 1, bytes.fromhex("c0af")),
        f(True, 1, bytes.fromhex("f4908080")),
        f(True, 8, b"\x03"),
        f(True, 8, b"\x03\xe8" + b"a" * 124),
        f(True, 8, bytes.fromhex("03e8fffe")),
        bytes([0x82, m | 126, 0x00, 0x05]),
        bytes([0x82, m | 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        bytes([0x82, m | 127, 0, 0, 1, 0, 0, 0, 0, 0]),
        f(True, 1, b"Hello") + f(True, 9, b"p") + f(True, 1, b"bad", 0b010),
    ]
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]:
        rows.append(f(True, 8, struct.pack(">H", code)))
    if role == "server":
        rows.append(bytes.fromhex("810548656c6c6f"))  # FR-07: unmasked from a client
    else:
        rows.append(bytes.fromhex("818537fa213d7f9f4d5158"))  # FR-08: masked from a server
    return rows


def text_runs(role):
    """Small text messages one after another in one input, which the connection checks and
    copies as one run (tests/connection_text_runs.rs): valid ones with a binary message
    between them, a code point split between two messages, an invalid one inside a run."""
    f = lambda p, op=1: frame(role, True, op, p)
    texts = ["t%d \u00e9\u20ac\U0001d11e" % i for i in range(8)]
    return [
        b"".join(f(t.encode()) for t in texts[:5]) + f(b"\x00\xff", 2)
        + b"".join(f(t.encode()) for t in texts[5:]),
        f(b"first") + f(b"ends in \xe2\x82") + f(b"\xac then") + f(b"after"),
        b"".join(f(t.encode()) for t in texts[:3]) + f(b"ok \xed\xa0\x80") + f(b"after"),
    ]


def handshake_fixtures():
    """Request heads: every fixture under tests/fixtures/. Response heads: the RFC 6455
    section 1.3 exchange and its variants, as the handshake tests use them."""
    base = os.path.join(os.path.dirname(ROOT), "tests", "fixtures")
    requests = []
    for name in sorted(os.listdir(base)):
        with open(os.path.join(base, name), "rb") as fh:
            requests.append(fh.read())
    requests.append(
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    ok = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    )
    responses = [
        ok + b"\r\n",
        ok + b"Sec-WebSocket-Protocol: chat\r\n\r\n",
        ok + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        ok + b"\r\n\x81\x05Hello",
        ok.replace(b"s3pP", b"xxxx") + b"\r\n",
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
        b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ]
    return {"request": requests, "response": responses}


def write(target, blobs):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if not old.startswith("regression-"):  # crash inputs, kept as found
            os.remove(os.path.join(d, old))
    for blob in blobs:
        name = hashlib.sha1(blob).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(blob)


def connection_input(stream):
    """8 setup bytes (the default configuration), the stream as input operations of at
    most 255 bytes, then a full drain."""
    out = bytearray(8)
    for i in range(0, len(stream), 255):
        piece = stream[i : i + 255]
        out += bytes([0, len(piece)]) + piece
    return bytes(out + b"\x0e")


def keepalive_regression():
    """tests/fuzz_regressions.rs, connection_server_keepalive_does_not_grow_stalled_output:
    64-byte high-water mark, keepalive every 100 ms, 3 s pong timeout; four rounds of 16
    pings, a timeout and the expected Pong, the output never drained."""
    out = bytearray([0, 0, 3, 16, 0, 8, 4, 0])
    for rnd in range(1, 5):
        for _ in range(16):
            out += bytes([1, 0x89, 0, 125]) + b"p" * 125
        out += bytes([3, 2]) + bytes([1, 0x8A, 0, 4]) + struct.pack(">I", rnd)
    return bytes(out)


def send_variants():
    """The sends and writes picked by an operation's high bits: text and binary from a
    slice and straight into a write buffer, then transmit_into a growable buffer, into a
    7-byte fixed one, and a final drain."""
    out = bytearray(8)
    text = "h\u00e9llo \U0001d11e".encode()
    out += bytes([0x15, len(text)]) + text
    out += bytes([0x25, len(text)]) + text
    out += bytes([0x16, 5]) + b"\x00\x01\x02\x03\x04"
    out += bytes([0x26, 200]) + bytes(range(200))
    out += bytes([0x06, 130]) + bytes(130)  # Bytes, queued: the next writes come after it
    out += bytes([0x2E, 7])
    out += bytes([0x1E])
    # A prepared message, then one attempted in the middle of a streamed one (FR-22).
    out += bytes([0x36, 3]) + b"abc"
    out += bytes([0x0A, 1]) + bytes([0x0B, 2]) + b"st"
    out += bytes([0x36, 3]) + b"xyz"
    out += bytes([0x0C, 1]) + b"!"
    return bytes(out + b"\x0e")


def main():
    ex = rfc_examples()
    small = lambda s: len(s) < 4096
    streams = {
        r: [s for s in ex[r] if small(s)] + violations(r) + text_runs(r)
        for r in ("server", "client")
    }
    cfg = {"server": 0x00, "client": 0x80}

    write("frame_header", [bytes([cfg[r]]) + s[:14] for r in streams for s in streams[r]])
    write(
        "decoder",
        [bytes([cfg[r], 0]) + s for r in ex for s in ex[r]]
        + [bytes([cfg[r], 1, 0]) + s for r in streams for s in streams[r]],
    )
    write(
        "connection_server",
        [connection_input(s) for s in streams["server"]]
        + [keepalive_regression(), send_variants()],
    )
    write(
        "connection_client",
        [connection_input(s) for s in streams["client"]] + [send_variants()],
    )
    write("differential", streams["server"])
    # roundtrip: setup, chunk sizes, then (tag, length, payload, split) per message.
    write(
        "roundtrip",
        [
            bytes([0, 0]) + bytes([0, 5]) + b"Hello" + bytes([0]),
            bytes([1, 1, 3]) + bytes([2, 6]) + "h\u00e9llo".encode() + bytes([2]),
            bytes([8, 0]) + bytes([1, 3, 1, 2, 3, 1]) + bytes([3, 4]) + b"\xff\x00\x01\x02" + bytes([2]),
            # Copied from a slice: text (tag 4), then binary (tag 5).
            bytes([5, 0]) + bytes([4, 6]) + "h\u00e9llo".encode() + bytes([0])
            + bytes([5, 3]) + b"\x01\x02\x03" + bytes([0]),
        ],
    )
    hs = handshake_fixtures()
    # Byte 0: the number of chunk sizes that follow (none: whole; one 0: byte by byte).
    for kind in ("request", "response"):
        write(
            "handshake_" + kind,
            [b"\x00" + h for h in hs[kind]] + [b"\x01\x00" + h for h in hs[kind]],
        )


if __name__ == "__main__":
    main()
