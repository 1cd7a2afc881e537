"""A stand-in for the Autobahn|Testsuite fuzzing server's three endpoints, to prove the flow
of the `autobahn_client` example (the real server needs Docker, which is not available).

    fake_autobahn.py AUTOBAHN_CLIENT_BIN

`getCaseCount` answers 4; each `runCase` sends messages the client must echo (text with
4-byte UTF-8, binary, a fragmented message, a ping, a 16 MiB binary) and closes with 1000;
`updateReports` closes. Prints PASS or FAIL lines; exits 1 on failure.
"""

import asyncio
import os
import sys
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve

CASES = 4
failures = 0


def report(name, ok, why=""):
    global failures
    print(f"PASS {name}" if ok else f"FAIL {name}: {why}", flush=True)
    failures += 0 if ok else 1


async def main(binary):
    log = []
    errors = []

    async def handler(ws):
        url = urlsplit(ws.request.path)
        query = parse_qs(url.query)
        log.append((url.path, query))
        try:
            if url.path == "/getCaseCount":
                await ws.send(str(CASES))
            elif url.path == "/runCase":
                case = int(query["case"][0])
                messages = [f"case {case}: 😀", os.urandom(100 * case), ["frag", "mented"]]
                if case == CASES:
                    messages.append(os.urandom(16 << 20))
                for message in messages:
                    await ws.send(message)
                    expected = "".join(message) if isinstance(message, list) else message
                    got = await asyncio.wait_for(ws.recv(), 10)
                    if got != expected:
                        errors.append(f"case {case}: echo differs")
                await asyncio.wait_for(await ws.ping(b"case"), 5)
            elif url.path == "/updateReports":
                pass
            else:
                errors.append(f"unexpected path {url.path}")
            await ws.close(1000)
        except Exception as e:  # noqa: BLE001 - recorded as a failure
            errors.append(f"{url.path}: {type(e).__name__}: {e}")

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            binary, f"ws://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        except asyncio.TimeoutError:
            out, err = b"", b"timed out"
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    paths = [(p, q.get("case", [None])[0], q.get("agent", [None])[0]) for p, q in log]
    expected = [("/getCaseCount", None, None)]
    expected += [("/runCase", str(i), "rfc6455") for i in range(1, CASES + 1)]
    expected += [("/updateReports", None, "rfc6455")]
    report("autobahn_client asks getCaseCount, runs every case, then updateReports",
           paths == expected, f"requests {paths}; stderr {err.decode()[-300:]!r}")
    report("autobahn_client echoes every case message (16 MiB included) and exits 0",
           not errors and proc.returncode == 0,
           f"{errors}; exit {proc.returncode}; stdout {out.decode()[-300:]!r}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1]))
    sys.exit(1 if failures else 0)
