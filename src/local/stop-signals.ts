// The signals that stop a local process (npm start, the CLI), and the exit code a shell reports for each
// (128 + the signal's number).
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

export type StopSignal = keyof typeof EXIT_CODES;

/** Calls `handle` on each stop signal, in place of Node's default of dying without exit hooks. */
export function onStopSignals(handle: (signal: StopSignal) => void): void {
  for (const signal of Object.keys(EXIT_CODES) as StopSignal[]) process.on(signal, () => handle(signal));
}

/**
 * Says why on stderr and exits now with the signal's code. The exit hook in embedded-postgres.ts stops an
 * embedded Postgres this process started; open transactions roll back with their connections.
 */
export function exitInterrupted(signal: StopSignal, message: string): never {
  console.error(message);
  process.exit(EXIT_CODES[signal]);
}
