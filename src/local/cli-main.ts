// `npx positivity …` as a process: loads ./.env, runs the command line (cli.ts) and exits with its code.
import './load-env.js';
import { runCli } from './cli.js';

// Ctrl-C or a kill mid-command: exit now. Open transactions roll back; an embedded Postgres this command
// started is stopped by the exit hook in embedded-postgres.ts.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  process.on(signal, () => {
    console.error(`positivity: interrupted (${signal})`);
    process.exit(code);
  });
}

process.exit(
  await runCli(process.argv, {
    env: process.env,
    out: (text) => console.log(text),
    err: (text) => console.error(text),
  }),
);
