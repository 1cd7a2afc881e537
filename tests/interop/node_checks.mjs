// Interop checks with Node's `ws` as the peer.
//
//   node node_checks.mjs client URL LABEL   ws clients against one of our echo servers
//   node node_checks.mjs server CLIENT_BIN  a ws server for our `client` example
//
// Prints `PASS name` or `FAIL name: why` per check; exits 1 if any failed. Every wait is
// bounded; every process started here is killed by its PID.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';

let failures = 0;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function check(name, fn, ms = 60000) {
  try {
    const result = await withTimeout(fn(), ms, name);
    if (result === true || result === undefined) {
      console.log(`PASS ${name}`);
    } else {
      failures++;
      console.log(`FAIL ${name}: ${result}`);
    }
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e && e.message}`);
  }
}

/// An open client with a queue of received messages.
async function open(url, protocols) {
  const ws = new WebSocket(url, protocols, { maxPayload: 64 << 20, perMessageDeflate: false });
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = { data: isBinary ? Buffer.from(data) : data.toString('utf8'), isBinary };
    const w = waiters.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
  await withTimeout(once(ws, 'open'), 10000, `open ${url}`);
  return ws;
}

async function closeWith(ws, code, reason) {
  const start = Date.now();
  ws.close(code, reason);
  const closed = await withTimeout(ws.closed, 5000, 'close');
  return { ...closed, ms: Date.now() - start };
}

async function runClients(url, label) {
  await check(`node ${label} subprotocol chat/echo`, async () => {
    for (const [offered, expected] of [[['chat'], 'chat'], [['x-unknown', 'echo'], 'echo'], [[], '']]) {
      const ws = await open(url, offered);
      const got = ws.protocol;
      await closeWith(ws, 1000);
      if (got !== expected) return `offered ${offered}, got '${got}', expected '${expected}'`;
    }
  });

  await check(`node ${label} text (4-byte UTF-8)`, async () => {
    const ws = await open(url);
    for (const text of ['hello', '', 'héllo wörld', '4-byte UTF-8: 😀🎉𝄞', 'mixed '.repeat(1000) + '🙂'.repeat(5000)]) {
      ws.send(text);
      const got = await ws.next();
      if (got.isBinary || got.data !== text) return `sent ${text.length} chars, got ${String(got.data).slice(0, 40)}`;
    }
    await closeWith(ws, 1000);
  });

  await check(`node ${label} binary 0 B..16 MiB`, async () => {
    const ws = await open(url);
    for (const size of [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20]) {
      const data = randomBytes(size);
      ws.send(data);
      const got = await ws.next();
      if (!got.isBinary || !data.equals(got.data)) return `binary of ${size} bytes came back different`;
    }
    await closeWith(ws, 1000);
  }, 120000);

  await check(`node ${label} fragmented sends`, async () => {
    const ws = await open(url);
    ws.send('frag', { fin: false });
    ws.send('men', { fin: false });
    ws.send('ted 😀', { fin: true });
    const got = await ws.next();
    if (got.data !== 'fragmented 😀') return `text fragments: got ${got.data}`;
    const parts = [randomBytes(100), randomBytes(70000), randomBytes(3)];
    parts.forEach((p, i) => ws.send(p, { binary: true, fin: i === parts.length - 1 }));
    const bin = await ws.next();
    if (!bin.isBinary || !Buffer.concat(parts).equals(bin.data)) return 'binary fragments came back different';
    await closeWith(ws, 1000);
  });

  await check(`node ${label} ping/pong`, async () => {
    const ws = await open(url);
    for (const payload of [Buffer.alloc(0), Buffer.from('are you there'), Buffer.alloc(125, 7)]) {
      const pong = once(ws, 'pong');
      ws.ping(payload);
      const [data] = await withTimeout(pong, 5000, 'pong');
      if (!payload.equals(data)) return `pong payload ${data.length} bytes differs from the ping's`;
    }
    await closeWith(ws, 1000);
  });

  await check(`node ${label} 500 pipelined messages`, async () => {
    const ws = await open(url);
    for (let i = 0; i < 500; i++) ws.send(`message ${i}`);
    for (let i = 0; i < 500; i++) {
      const got = await ws.next();
      if (got.data !== `message ${i}`) return `message ${i}: got ${got.data}`;
    }
    await closeWith(ws, 1000);
  });

  await check(`node ${label} close codes and reasons`, async () => {
    for (const [code, reason] of [[1000, ''], [1001, 'going away'], [3000, ''], [4000, 'custom reason ✓']]) {
      const ws = await open(url);
      const closed = await closeWith(ws, code, reason);
      if (closed.code !== code) return `closed with ${code}, the server answered ${closed.code}`;
      if (closed.ms > 2000) return `close ${code} took ${closed.ms} ms`;
    }
  });

  await check(`node ${label} 200 concurrent connections`, async () => {
    const one = async (i) => {
      const ws = await open(url);
      for (let j = 0; j < 5; j++) {
        const msg = `client ${i} message ${j} 😀`;
        ws.send(msg);
        if ((await ws.next()).data !== msg) throw new Error(`client ${i} got a wrong echo`);
      }
      const closed = await closeWith(ws, 1000);
      if (closed.code !== 1000) throw new Error(`client ${i} closed with ${closed.code}`);
    };
    await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
  }, 120000);
}

/// Runs the client example, typing `lines` like a user: all of them, then (when
/// `closeStdin`) end of input once as many lines came back. Resolves to { code, out, err }.
function runClientExample(binary, port, lines, closeStdin, ms = 20000) {
  const child = spawn(binary, [`ws://127.0.0.1:${port}/`, 'chat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
    if (closeStdin && out.split('\n').length > lines.length) child.stdin.end();
  });
  child.stderr.on('data', (d) => (err += d));
  if (lines.length) child.stdin.write(lines.join('\n') + '\n');
  else if (closeStdin) child.stdin.end();
  const exited = new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  return withTimeout(exited, ms, 'client example').finally(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
}

async function serveClientExample(binary) {
  const closes = [];
  let serverCloses = false;
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 64 << 20,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  await once(wss, 'listening');
  const port = wss.address().port;
  wss.on('connection', (ws) => {
    ws.on('close', (code, reason) => closes.push([ws.protocol, code, reason.toString()]));
    if (serverCloses) {
      ws.send(Buffer.from([1, 2, 3]));
      ws.send('server says bye');
      ws.close(4001, 'bye');
    } else {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    }
  });
  const lines = ['hello', 'héllo wörld 😀', 'x'.repeat(70000), 'last line'];

  await check('node server <- client example: echo, close 1000 on end of input', async () => {
    const { code, out, err } = await runClientExample(binary, port, lines, true);
    if (out.split('\n').slice(0, -1).join('\n') !== lines.join('\n')) return `stdout ${out.slice(0, 80)}; stderr ${err.slice(-300)}`;
    if (code !== 0) return `exit status ${code}; stderr ${err.slice(-300)}`;
    for (let i = 0; i < 50 && closes.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    if (JSON.stringify(closes) !== JSON.stringify([['chat', 1000, 'end of input']])) return `the server saw ${JSON.stringify(closes)}`;
  });

  await check('node server <- client example: server-initiated close 4001', async () => {
    closes.length = 0;
    serverCloses = true;
    const { code, out, err } = await runClientExample(binary, port, [], false);
    if (out !== '<3 bytes of binary>\nserver says bye\n') return `stdout ${JSON.stringify(out)}; stderr ${err.slice(-300)}`;
    if (code !== 0 || !err.includes('code 4001, clean true')) return `exit status ${code}; stderr ${err.slice(-300)}`;
  });
  wss.close();
  for (const ws of wss.clients) ws.terminate();
}

const [mode, arg, label] = process.argv.slice(2);
if (mode === 'client' && arg && label) await runClients(arg, label);
else if (mode === 'server' && arg) await serveClientExample(arg);
else {
  console.error('usage: node_checks.mjs client URL LABEL | server CLIENT_BIN');
  process.exit(2);
}
process.exit(failures ? 1 : 0);
