// Which Postgres one-machine mode uses: DATABASE_URL when set; else the embedded server a running
// `npm start` already owns (it leaves its address in .data/server.json); else a new embedded server on
// the data in .data/postgres, owned by this process.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import * as z from 'zod';
import { startEmbeddedPostgres } from './embedded-postgres.js';

export interface LocalDatabase {
  url: string;
  source: 'DATABASE_URL' | 'running server' | 'embedded';
  /** Stops the embedded server when this process started it. */
  release(): Promise<void>;
}

const ServerFile = z.object({
  pid: z.number().int(),
  databaseUrl: z.string(),
  appUrl: z.string(),
  /** The URL Twilio signatures are computed on (PUBLIC_BASE_URL); the outbox posts callbacks there. */
  publicBaseUrl: z.string(),
});
export type ServerInfo = z.infer<typeof ServerFile>;

/** Variables one-machine mode reads besides src/config.ts's (.env.example documents both). */
export const LOCAL_MODE_NAMES = ['DPS_DATA_DIR'] as const;

/** Where npm start, the CLI and `npm run migrate` keep their data; empty (as in .env.example) is ./.data. */
export function dataDirectory(env: Record<string, string | undefined> = process.env): string {
  return path.resolve(env.DPS_DATA_DIR || '.data');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when something accepts a TCP connection at the URL's host and port within `ms`. */
function listening(appUrl: string, ms = 1_000): Promise<boolean> {
  const url = URL.canParse(appUrl) ? new URL(appUrl) : undefined;
  if (!url?.port) return Promise.resolve(false);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(url.port) });
    const answer = (yes: boolean) => {
      socket.destroy();
      resolve(yes);
    };
    socket.setTimeout(ms, () => answer(false));
    socket.once('connect', () => answer(true));
    socket.once('error', () => answer(false));
  });
}

/**
 * The running local server's addresses, if one is running. A live pid alone does not say so: a server
 * killed without its clean stop leaves server.json behind, and after a reboot or in a new container its
 * pid is another process's (even the new npm start's). The server listens at its appUrl while announced.
 */
export async function runningServer(dataDir = dataDirectory()): Promise<ServerInfo | null> {
  let info: ServerInfo;
  try {
    info = ServerFile.parse(JSON.parse(await readFile(path.join(dataDir, 'server.json'), 'utf8')));
  } catch {
    return null;
  }
  return isAlive(info.pid) && (await listening(info.appUrl)) ? info : null;
}

export async function announceServer(info: ServerInfo, dataDir = dataDirectory()): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, 'server.json'), `${JSON.stringify(info, null, 2)}\n`);
}

export async function withdrawServer(dataDir = dataDirectory()): Promise<void> {
  await rm(path.join(dataDir, 'server.json'), { force: true });
}

export async function openLocalDatabase(
  databaseUrl: string | undefined,
  options: { log?: (line: string) => void; dataDir?: string } = {},
): Promise<LocalDatabase> {
  const dataDir = options.dataDir ?? dataDirectory();
  if (databaseUrl) return { url: databaseUrl, source: 'DATABASE_URL', release: async () => {} };
  const running = await runningServer(dataDir);
  if (running) return { url: running.databaseUrl, source: 'running server', release: async () => {} };
  const server = await startEmbeddedPostgres({
    dataDir: path.join(dataDir, 'postgres'),
    // Ctrl-C reaches this process only; it stops Postgres after its own work (see embedded-postgres.ts).
    detached: true,
    onLog: options.log,
  });
  return { url: server.url(), source: 'embedded', release: () => server.stop() };
}
