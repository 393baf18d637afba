// A pool for Kysely whose clients send their queries through a function of ours (naming statements,
// keeping to a request's deadline). Kysely keys its connection objects by the client it is handed, so each
// pooled client gets one wrapper for its whole life: a new one on every checkout would make Kysely build
// and remember a new connection every time.
import type { PostgresPool, PostgresPoolClient } from 'kysely';

/** What a wrapped client's query runs instead: Kysely's query, for this one pooled client. */
export type ClientQuery = (sqlOrCursor: unknown, parameters?: readonly unknown[]) => unknown;

interface PoolLike<C> {
  connect(): Promise<C>;
  end(): Promise<void>;
}

export function wrappingClients<C extends { release(destroy?: boolean): void }>(
  pool: PoolLike<C>,
  queryOf: (client: C) => ClientQuery,
  beforeConnect?: () => void,
): PostgresPool {
  const wrappers = new WeakMap<C, PostgresPoolClient>();
  return {
    async connect(): Promise<PostgresPoolClient> {
      beforeConnect?.();
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        // The clients answer what Kysely's PostgresPoolClient declares; only the overloads' types differ.
        wrapper = {
          query: queryOf(client),
          release: (destroy?: boolean) => client.release(destroy),
        } as unknown as PostgresPoolClient;
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
