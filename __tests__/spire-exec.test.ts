// ClusterClient.exec against a local server that speaks the API server's exec
// protocol (a WebSocket with channel.k8s.io frames), for the cases the SPIRE
// phase depends on (issue 7, item 3): on v4.channel.k8s.io, which Kubernetes
// 1.29 serves by default, client-node ends stdin by closing the socket, so no
// exit status ever arrives and the result must say "unknown"; on v5 the
// status comes; a refused handshake is retried when it is worth retrying and
// otherwise named, and a hung exec does not leave its socket open.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ClusterClient } from '../src/cluster/client.ts';
import { localClient } from './helpers/local-client.ts';

type Protocol = 'v4.channel.k8s.io' | 'v5.channel.k8s.io';
interface Session {
  stdin: Buffer[];
  /** Frames the client sent on stream 255 (close-stream). */
  closedStreams: number[];
  clientClosed: boolean;
  socket: Socket;
}
interface Behaviour {
  protocol: Protocol;
  /** HTTP statuses to refuse the next handshakes with, in order. */
  refuse: number[];
  /** What the "process" does once its stdin is closed (v5) or right away (no stdin). */
  onStdinClosed?: (s: Session, send: (stream: number, data: Buffer | string) => void) => void;
  sessions: Session[];
  handshakes: number;
}

const behaviour: Behaviour = {
  protocol: 'v4.channel.k8s.io',
  refuse: [],
  sessions: [],
  handshakes: 0,
};

function frame(opcode: number, payload: Buffer): Buffer {
  const head =
    payload.length < 126
      ? Buffer.from([0x80 | opcode, payload.length])
      : Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, payload]);
}

/** Client frames are masked; returns the complete frames in `buffer` and what is left over. */
function parseFrames(buffer: Buffer): {
  frames: { opcode: number; payload: Buffer }[];
  rest: Buffer;
} {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = 0;
  while (buffer.length - at >= 2) {
    const opcode = buffer[at]! & 0x0f;
    let length = buffer[at + 1]! & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      if (buffer.length < offset + 2) break;
      length = buffer.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (buffer.length < offset + 8) break;
      length = Number(buffer.readBigUInt64BE(offset));
      offset += 8;
    }
    if (buffer.length < offset + 4 + length) break;
    const mask = buffer.subarray(offset, offset + 4);
    const payload = Buffer.from(buffer.subarray(offset + 4, offset + 4 + length));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    frames.push({ opcode, payload });
    at = offset + 4 + length;
  }
  return { frames, rest: buffer.subarray(at) };
}

const server = http.createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket: Socket) => {
  behaviour.handshakes++;
  const refuse = behaviour.refuse.shift();
  if (refuse) {
    socket.end(`HTTP/1.1 ${refuse} Refused\r\nContent-Length: 0\r\n\r\n`);
    return;
  }
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(/,\s*/);
  assert.ok(offered.includes(behaviour.protocol));
  const accept = createHash('sha1')
    .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
    .digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${behaviour.protocol}\r\n\r\n`,
  );
  const session: Session = { stdin: [], closedStreams: [], clientClosed: false, socket };
  behaviour.sessions.push(session);
  const send = (stream: number, data: Buffer | string): void => {
    if (!socket.writable) return;
    socket.write(frame(0x2, Buffer.concat([Buffer.from([stream]), Buffer.from(data)])));
  };
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.searchParams.get('stdin') !== 'true') behaviour.onStdinClosed?.(session, send);
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const { frames, rest } = parseFrames(Buffer.concat([pending, chunk]));
    pending = rest;
    for (const { opcode, payload } of frames) {
      if (opcode === 0x8) {
        session.clientClosed = true;
        socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
      } else if (payload[0] === 0) session.stdin.push(payload.subarray(1));
      else if (payload[0] === 255) {
        session.closedStreams.push(payload[1]!);
        if (payload[1] === 0) behaviour.onStdinClosed?.(session, send);
      }
    }
  });
  socket.on('error', () => undefined);
});

const listening = new Promise<number>((resolve) =>
  server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
);
after(() => {
  for (const s of behaviour.sessions) s.socket.destroy();
  server.close();
});

async function client(timeoutMs = 5000): Promise<ClusterClient> {
  return localClient(await listening, timeoutMs);
}

function reset(protocol: Protocol, onStdinClosed?: Behaviour['onStdinClosed']): void {
  behaviour.protocol = protocol;
  behaviour.refuse = [];
  behaviour.onStdinClosed = onStdinClosed;
  behaviour.sessions = [];
  behaviour.handshakes = 0;
}

const exitStatus = (code: number): string =>
  JSON.stringify({
    status: 'Failure',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });

test('v4 with stdin: the socket is closed after the input, and the exit status is unknown', async () => {
  reset('v4.channel.k8s.io');
  const result = await (
    await client()
  ).exec('spire', 'spire-server-0', 'spire-server', ['set'], {
    stdin: '{"keys":[]}',
  });
  assert.equal(Buffer.concat(behaviour.sessions[0]!.stdin).toString(), '{"keys":[]}');
  assert.equal(behaviour.sessions[0]!.clientClosed, true);
  assert.equal(result.exitCode, null, 'no status came: neither success nor failure');
});

test('v5 with stdin: stdin is closed by a frame, and the status that follows is the result', async () => {
  reset('v5.channel.k8s.io', (_s, send) => {
    send(2, 'no such bundle\n');
    send(3, exitStatus(3));
  });
  const result = await (
    await client()
  ).exec('spire', 'spire-server-0', 'spire-server', ['set'], {
    stdin: 'x',
  });
  assert.deepEqual(behaviour.sessions[0]!.closedStreams, [0]);
  assert.equal(result.exitCode, 3);
  assert.equal(result.stderr, 'no such bundle\n');
});

test('a handshake the API server refuses as busy is tried again; the command then runs once', async () => {
  reset('v4.channel.k8s.io', (_s, send) => {
    send(1, 'bundle shown\n');
    send(3, JSON.stringify({ status: 'Success' }));
  });
  behaviour.refuse = [503, 500];
  const result = await (await client()).exec('spire', 'spire-server-0', 'spire-server', ['show']);
  assert.equal(behaviour.handshakes, 3);
  assert.equal(behaviour.sessions.length, 1);
  assert.deepEqual(result, { stdout: 'bundle shown\n', stderr: '', exitCode: 0 });
});

test('a forbidden exec fails at once, naming the HTTP status', async () => {
  reset('v4.channel.k8s.io');
  behaviour.refuse = [403, 403, 403];
  const started = Date.now();
  await assert.rejects(
    (await client()).exec('spire', 'spire-server-0', 'spire-server', ['show']),
    (e: Error) => /cluster 'local': exec in spire\/spire-server-0 .*403/.test(e.message),
  );
  assert.equal(behaviour.handshakes, 1);
  assert.ok(Date.now() - started < 2000);
});

test('an exec that never ends times out and closes its socket', async () => {
  reset('v4.channel.k8s.io', () => undefined);
  await assert.rejects(
    (await client(500)).exec('spire', 'spire-server-0', 'spire-server', ['sleep']),
    /timed out/,
  );
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(behaviour.sessions[0]!.clientClosed, true, 'the socket was closed');
});
