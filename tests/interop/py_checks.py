"""Interop checks with Python `websockets` as the peer.

    py_checks.py client URL LABEL [keepalive] [many]
                                    websockets clients against one of our echo servers;
                                    `keepalive`: the server pings after 20 s idle;
                                    `many`: 2000 concurrent connections too
    py_checks.py server CLIENT_BIN  a websockets server for our `client` example

Prints `PASS name` or `FAIL name: why` per check; exits 1 if any check failed. Every
wait is bounded; every process started here is killed by its PID.
"""

import asyncio
import os
import socket
import struct
import sys
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

failures = 0


def report(name, ok, why=""):
    global failures
    if ok:
        print(f"PASS {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL {name}: {why}", flush=True)


async def check(name, coro, timeout=60):
    """Runs one check; an exception or the timeout is a failure."""
    try:
        result = await asyncio.wait_for(coro, timeout)
        if result is None or result is True:
            report(name, True)
        else:
            report(name, False, str(result))
    except Exception as e:  # noqa: BLE001 - any error fails the check
        report(name, False, f"{type(e).__name__}: {e}")


def client_conn(url, **kw):
    return connect(url, max_size=None, close_timeout=5, ping_interval=None, **kw)


# ----- clients against our echo servers -----


async def subprotocols(url):
    for offered, expected in [(["chat"], "chat"), (["x-unknown", "echo"], "echo"), (["echo", "chat"], "echo"), (None, None)]:
        async with client_conn(url, subprotocols=offered) as ws:
            if ws.subprotocol != expected:
                return f"offered {offered}, got {ws.subprotocol!r}, expected {expected!r}"
    return True


async def texts(url):
    samples = ["hello", "", "héllo wörld", "4-byte UTF-8: 😀🎉𝄞", "mixed " * 1000 + "🙂" * 5000]
    async with client_conn(url) as ws:
        for text in samples:
            await ws.send(text)
            got = await ws.recv()
            if got != text:
                return f"sent {len(text)} chars, got {got[:40]!r}"
    return True


async def binaries(url):
    sizes = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20]
    async with client_conn(url) as ws:
        for size in sizes:
            data = os.urandom(size)
            await ws.send(data)
            got = await ws.recv()
            if not isinstance(got, bytes) or got != data:
                return f"binary of {size} bytes came back different ({type(got).__name__}, {len(got)})"
    return True


async def fragmented(url):
    async with client_conn(url) as ws:
        await ws.send(["frag", "men", "ted ", "😀"])
        got = await ws.recv()
        if got != "fragmented 😀":
            return f"text fragments: got {got!r}"
        parts = [os.urandom(n) for n in (0, 100, 70000, 3)]
        await ws.send(parts)
        got = await ws.recv()
        if got != b"".join(parts):
            return "binary fragments came back different"
    return True


async def ping_pong(url):
    async with client_conn(url) as ws:
        for payload in [b"", b"are you there", bytes(range(125))]:
            waiter = await ws.ping(payload)
            await asyncio.wait_for(waiter, 5)
        # A ping between messages does not disturb them.
        await ws.send("before")
        waiter = await ws.ping(b"between")
        await ws.send("after")
        got = [await ws.recv(), await ws.recv()]
        await asyncio.wait_for(waiter, 5)
        if got != ["before", "after"]:
            return f"messages around a ping: {got}"
    return True


async def batch(url):
    async with client_conn(url) as ws:
        for i in range(500):
            await ws.send(f"message {i}")
        for i in range(500):
            got = await ws.recv()
            if got != f"message {i}":
                return f"message {i}: got {got!r}"
    return True


async def close_codes(url):
    for code, reason in [(1000, ""), (1001, "going away"), (3000, ""), (4000, "custom reason ✓")]:
        ws = await client_conn(url).__aenter__()
        await ws.send("last words")
        await ws.recv()
        start = time.monotonic()
        await ws.close(code, reason)
        elapsed = time.monotonic() - start
        rcvd = ws.protocol.close_rcvd
        if rcvd is None or rcvd.code != code:
            return f"closed with {code}, the server answered {rcvd}"
        if elapsed > 2:
            return f"close {code} took {elapsed:.1f}s (the server did not close the transport)"
    return True


def raw_upgrade(port):
    """A raw socket after a hand-written upgrade, for frames websockets will not send."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"no 101: {head[:40]!r}")
    return s, head.split(b"\r\n\r\n", 1)[1]


def read_close(s, rest):
    data = rest
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if len(data) >= 2 and data[0] == 0x88:
            n = data[1] & 0x7F
            if len(data) >= 2 + n:
                return struct.unpack("!H", data[2:4])[0] if n >= 2 else None
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return f"no Close frame, got {data[:20]!r}"


def masked(opcode, payload, fin=True):
    key = b"\x01\x02\x03\x04"
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + key + body


async def violations(url):
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    cases = [
        ("invalid UTF-8 text", masked(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), 1007),
        ("unmasked frame", bytes([0x81, 0x02]) + b"hi", 1002),
        ("reserved opcode", masked(0x3, b""), 1002),
        ("fragmented ping", masked(0x9, b"x", fin=False), 1002),
    ]
    for name, frame, expected in cases:
        s, rest = await asyncio.to_thread(raw_upgrade, port)
        try:
            s.sendall(frame)
            code = await asyncio.to_thread(read_close, s, rest)
        finally:
            s.close()
        if code != expected:
            return f"{name}: expected Close {expected}, got {code}"
    return True


async def keepalive_ping(url):
    """The server's timer (keepalive after 20 s without input) fires by itself: a Ping
    arrives on an idle connection without any input from us."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    s, rest = await asyncio.to_thread(raw_upgrade, port)
    start = time.monotonic()

    def first_frame():
        data = rest
        s.settimeout(30)
        while len(data) < 2:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        return data[0]

    try:
        first = await asyncio.to_thread(first_frame)
    finally:
        s.close()
    elapsed = time.monotonic() - start
    if first != 0x89 or not 19 < elapsed < 25:
        return f"first byte {first}, after {elapsed:.1f}s (expected a Ping after about 20 s)"
    return True


async def concurrent(url, n=200):
    async def one(i):
        async with client_conn(url, open_timeout=30) as ws:
            for j in range(5):
                msg = f"client {i} message {j} 😀"
                await ws.send(msg)
                if await ws.recv() != msg:
                    raise AssertionError(f"client {i} got a wrong echo")
            await ws.close()
            if ws.protocol.close_rcvd is None or ws.protocol.close_rcvd.code != 1000:
                raise AssertionError(f"client {i}: close not answered with 1000")

    await asyncio.gather(*(one(i) for i in range(n)))
    return True


async def run_clients(url, label, extra):
    # Started first and checked last: it waits for the server's 20 s keepalive.
    keepalive = asyncio.ensure_future(keepalive_ping(url)) if "keepalive" in extra else None
    await check(f"python {label} subprotocol chat/echo", subprotocols(url))
    await check(f"python {label} text (4-byte UTF-8)", texts(url))
    await check(f"python {label} binary 0 B..16 MiB", binaries(url), timeout=120)
    await check(f"python {label} fragmented sends", fragmented(url))
    await check(f"python {label} ping/pong", ping_pong(url))
    await check(f"python {label} 500 pipelined messages", batch(url))
    await check(f"python {label} close codes and reasons", close_codes(url))
    await check(f"python {label} protocol violations answered (1002/1007)", violations(url))
    await check(f"python {label} 200 concurrent connections", concurrent(url), timeout=120)
    if "many" in extra:
        await check(f"python {label} 2000 concurrent connections", concurrent(url, 2000), timeout=180)
    if keepalive:
        await check(f"python {label} keepalive Ping after 20 s idle (poll_timeout)", keepalive, timeout=40)


# ----- a websockets server for our client example -----


async def run_client_example(binary, port, lines, close_stdin, timeout=20):
    """Runs the client example, typing `lines` like a user: all of them, then (when
    `close_stdin`) end of input once as many lines came back. Returns (exit code, stdout,
    stderr)."""
    proc = await asyncio.create_subprocess_exec(
        binary, f"ws://127.0.0.1:{port}/", "chat",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=1 << 20,
    )
    try:
        echoed = b""
        if lines:
            proc.stdin.write(("\n".join(lines) + "\n").encode())
            await proc.stdin.drain()
            for _ in lines:
                echoed += await asyncio.wait_for(proc.stdout.readline(), timeout)
        if close_stdin:
            proc.stdin.close()
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        return proc.returncode, (echoed + out).decode(), err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def serve_client_example(binary):
    closes = []
    mode = {"server_closes": False}

    async def handler(ws):
        if mode["server_closes"]:
            await ws.send(b"\x01\x02\x03")
            await ws.send("server says bye")
            await ws.close(4001, "bye")
        else:
            async for message in ws:
                await ws.send(message)
        await ws.wait_closed()
        closes.append((ws.subprotocol, ws.close_code, ws.close_reason))

    async with serve(handler, "127.0.0.1", 0, subprotocols=["chat"], max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        lines = ["hello", "héllo wörld 😀", "x" * 70000, "last line"]

        async def echo_then_eof():
            code, out, err = await run_client_example(binary, port, lines, True)
            if out.splitlines() != lines:
                return f"stdout {out[:80]!r} is not the lines sent; stderr {err[-300:]!r}"
            if code != 0:
                return f"exit status {code}; stderr {err[-300:]!r}"
            for _ in range(50):
                if closes:
                    break
                await asyncio.sleep(0.1)
            if closes != [("chat", 1000, "end of input")]:
                return f"the server saw {closes}"
            return True

        async def server_closes():
            closes.clear()
            mode["server_closes"] = True
            code, out, err = await run_client_example(binary, port, [], False)
            if out.splitlines() != ["<3 bytes of binary>", "server says bye"]:
                return f"stdout {out!r}; stderr {err[-300:]!r}"
            if code != 0 or "code 4001, clean true" not in err:
                return f"exit status {code}, stderr {err[-300:]!r}"
            return True

        await check("python server <- client example: echo, close 1000 on end of input", echo_then_eof())
        await check("python server <- client example: server-initiated close 4001", server_closes())


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "client":
        asyncio.run(run_clients(sys.argv[2], sys.argv[3], sys.argv[4:]))
    elif len(sys.argv) == 3 and sys.argv[1] == "server":
        asyncio.run(serve_client_example(sys.argv[2]))
    else:
        sys.exit(__doc__)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
