// Statements run on every webhook, sent as named prepared statements: Postgres parses, analyses and plans
// each once per connection instead of on every call (`node --import tsx bench/webhooks-cpu.ts`, status
// callbacks: 0.85–0.90 ms of Postgres CPU per request unnamed, 0.57–0.63 ms named). Kysely sends every
// query unnamed, so the pool it is given names the registered texts itself.
// Prepared statements are session state: after a migration that changes a statement's result columns,
// connections that prepared it before fail it once ("cached plan must not change result type") — which
// the expand-then-contract rule for migrations (DEPLOYMENT.md) already rules out.
import { CompiledQuery, type PostgresPool } from 'kysely';
import type pg from 'pg';
import { wrappingClients } from './pool-clients.js';

/** SQL text → statement name, for every registered statement. */
const names = new Map<string, string>();

/** Registers `text` under `name` and returns the query for given parameters. */
export function preparedStatement(
  name: string,
  text: string,
): (parameters: readonly unknown[]) => CompiledQuery {
  for (const [registered, n] of names) {
    if (n === name && registered !== text) throw new Error(`prepared statement ${name} registered twice`);
  }
  names.set(text, name);
  return (parameters) => CompiledQuery.raw(text, [...parameters]);
}

/** `pool` for Kysely, its clients sending registered SQL as named statements (pg prepares each once). */
export function namingStatements(pool: pg.Pool): PostgresPool {
  return wrappingClients<pg.PoolClient>(pool, (client) => (sqlOrCursor, parameters) => {
    if (typeof sqlOrCursor !== 'string') return client.query(sqlOrCursor as pg.Submittable);
    const name = names.get(sqlOrCursor);
    const values = parameters ? [...parameters] : [];
    return name ? client.query({ name, text: sqlOrCursor, values }) : client.query(sqlOrCursor, values);
  });
}
