/**
 * `schedctl`: the command line of the scheduler (see `schedctl --help`). Run through `bin/schedctl`.
 */
import { run } from './program.js';

// `schedctl events | head`: a reader that went away is not an error
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

let interrupt!: () => void;
const interrupted = new Promise<void>((resolve) => {
  interrupt = resolve;
});
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // the first one ends `events --follow` cleanly; a second one gives up at once
    if (++signals > 1) process.exit(130);
    interrupt();
  });
}

const code = await run(process.argv, {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  interrupted,
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    return Buffer.concat(chunks).toString('utf8');
  },
});
process.exitCode = code;
// Nothing must keep the process alive once the command is done (signal handlers included).
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.removeAllListeners(sig);
// A connection a library keeps open (the inspection WebSocket) must not hold the exit up either.
setTimeout(() => process.exit(code), 200).unref();
