// Runs a program for a kwok exec, relaying stdin to it: `node exec-relay.ts <program> [args...]`.
//
// kwok v0.8.0 copies the exec's stdin into the process through a pipe it never closes (see
// pkg/utils/exec Command: io.Copy into StdinPipe without Close), so a program that reads stdin
// to EOF, like `spire-server bundle set`, waits forever. The relay ends the program's stdin once
// the input has been idle for a moment (or was never sent), which is when `kubectl exec -i` has
// delivered everything it had.

import { spawn } from 'node:child_process';

const FIRST_DATA_MS = 5000;
const IDLE_MS = 500;

const [program, ...args] = process.argv.slice(2);
if (!program) {
  console.error('usage: node exec-relay.ts <program> [args...]');
  process.exit(2);
}
const child = spawn(program, args, { stdio: ['pipe', 'inherit', 'inherit'] });
// The program may exit without reading its input.
child.stdin.on('error', () => undefined);

let ended = false;
const end = () => {
  if (ended) return;
  ended = true;
  clearTimeout(timer);
  child.stdin.end();
  process.stdin.pause();
};
let timer = setTimeout(end, FIRST_DATA_MS);
process.stdin.on('data', (chunk: Buffer) => {
  if (ended) return;
  child.stdin.write(chunk);
  clearTimeout(timer);
  timer = setTimeout(end, IDLE_MS);
});
process.stdin.on('end', end);
process.stdin.on('error', end);

child.on('error', (err) => {
  console.error(`exec-relay: ${program}: ${err.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
