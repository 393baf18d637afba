// Which Postgres one-machine mode uses: DATABASE_URL when set; else the embedded server a running
// `npm start` already owns (it leaves its address in .data/server.json); else a new embedded server on
// the data in .data/postgres, owned by this process.
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { startEmbeddedPostgres } from './embedded-postgres.js';

export interface LocalDatabase {
  url: string;
  source: 'DATABASE_URL' | 'running server' | 'embedded';
  /** Stops the embedded server when this process started it. */
  release(): Promise<void>;
}

const ServerFile = z.object({ pid: z.number().int(), databaseUrl: z.string(), appUrl: z.string() });
export type ServerInfo = z.infer<typeof ServerFile>;

export function dataDirectory(): string {
  return path.resolve(process.env.DPS_DATA_DIR ?? '.data');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The running local server's addresses, if one is running. */
export async function runningServer(): Promise<ServerInfo | null> {
  try {
    const info = ServerFile.parse(
      JSON.parse(await readFile(path.join(dataDirectory(), 'server.json'), 'utf8')),
    );
    return isAlive(info.pid) ? info : null;
  } catch {
    return null;
  }
}

export async function announceServer(info: ServerInfo): Promise<void> {
  await writeFile(path.join(dataDirectory(), 'server.json'), `${JSON.stringify(info, null, 2)}\n`);
}

export async function withdrawServer(): Promise<void> {
  await rm(path.join(dataDirectory(), 'server.json'), { force: true });
}

export async function openLocalDatabase(
  databaseUrl: string | undefined,
  options: { log?: (line: string) => void } = {},
): Promise<LocalDatabase> {
  if (databaseUrl) return { url: databaseUrl, source: 'DATABASE_URL', release: async () => {} };
  const running = await runningServer();
  if (running) return { url: running.databaseUrl, source: 'running server', release: async () => {} };
  const server = await startEmbeddedPostgres({
    dataDir: path.join(dataDirectory(), 'postgres'),
    onLog: options.log,
  });
  return { url: server.url(), source: 'embedded', release: () => server.stop() };
}
