// Loads ./.env for `npm start` and the CLI, as .env.example invites ("Copy to .env"). Imported first by
// main.ts and cli-main.ts, so it runs before any module reads the environment (the logger reads LOG_LEVEL at
// load). A variable the environment already sets wins, even when set empty. Node's own parser
// (util.parseEnv, the one behind process.loadEnvFile and --env-file): no dependency.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';

/** Adds the file's variables that `env` does not set; returns the names it added. A missing file is none. */
export function loadEnvFile(
  file = path.resolve('.env'),
  env: Record<string, string | undefined> = process.env,
): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`could not read ${file}: ${(error as Error).message}`);
  }
  const added: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    added.push(name);
  }
  return added;
}
