// `npx positivity …` as a process: loads ./.env, runs the command line (cli.ts) and exits with its code.
import './load-env.js';
import { runCli } from './cli.js';
import { exitInterrupted, onStopSignals } from './stop-signals.js';

// Ctrl-C or a kill mid-command: exit now.
onStopSignals((signal) => exitInterrupted(signal, `positivity: interrupted (${signal})`));

process.exit(
  await runCli(process.argv, {
    env: process.env,
    out: (text) => console.log(text),
    err: (text) => console.error(text),
  }),
);
