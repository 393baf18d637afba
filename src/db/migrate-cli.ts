// `npm run migrate [up|down|status]`: against DATABASE_URL, or the one-machine embedded server in ./.data.
// ./.env first, as for npm start and the CLI: else `down` could revert another database than the one configured.
import '../local/load-env.js';
import { ConfigError, loadConfig } from '../config.js';
import { openLocalDatabase } from '../local/local-database.js';
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
  const database = await openLocalDatabase(config.DATABASE_URL);
  const connectionString = database.url;
  const db = createDb({
    connectionString,
    ssl: config.DATABASE_SSL,
    // The migration's connection and the one that watches its lock waits (src/db/migration-locks.ts).
    max: 2,
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
    await database.release();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ConfigError || error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
