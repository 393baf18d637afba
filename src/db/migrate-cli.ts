// `npm run migrate [up|down|status]`: against DATABASE_URL, or the one-machine embedded server in ./.data.
import path from 'node:path';
import { ConfigError, loadConfig } from '../config.js';
import { startEmbeddedPostgres } from '../local/embedded-postgres.js';
import { createDb } from './connection.js';
import { migrateDown, migrateToLatest, migrationStatus } from './migrator.js';

const USAGE = 'usage: npm run migrate -- [up|down|status]';

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'up';
  if (!['up', 'down', 'status'].includes(command)) {
    console.error(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  const config = loadConfig();
  const embedded = config.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres({ dataDir: path.resolve('.data/postgres') });
  const connectionString = config.DATABASE_URL ?? embedded?.url() ?? '';
  const db = createDb({
    connectionString,
    ssl: config.DATABASE_SSL,
    max: 1,
  });
  try {
    if (command === 'up') {
      const applied = await migrateToLatest(db);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
    } else if (command === 'down') {
      const reverted = await migrateDown(db);
      console.log(reverted.length ? `reverted: ${reverted.join(', ')}` : 'nothing to revert');
    } else {
      for (const m of await migrationStatus(db)) {
        console.log(`${m.executedAt ? m.executedAt.toISOString() : 'pending'.padEnd(24)}  ${m.name}`);
      }
    }
    return 0;
  } finally {
    await db.destroy();
    await embedded?.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ConfigError || error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
