// What a migrated database's schema is, read from the catalog, so two databases that got there by different
// routes (fresh, or upgraded from an older release) can be compared with one toEqual.
import { type Kysely, sql } from 'kysely';

/**
 * Columns, constraints, indexes, storage options, functions (whitespace folded: a `down` may lay out the body
 * it restores differently), triggers and comments of the public schema.
 */
export async function schemaOf(db: Kysely<unknown>): Promise<Record<string, string[]>> {
  const lines = async (query: ReturnType<typeof sql<{ line: string }>>) =>
    (await query.execute(db)).rows.map((r) => r.line);
  return {
    columns: await lines(sql`
      SELECT concat_ws(' ', table_name, column_name, data_type, is_nullable, column_default) AS line
        FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1`),
    constraints: await lines(sql`
      SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS line
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`),
    indexes: await lines(sql`SELECT indexdef AS line FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
    storage: await lines(sql`
      SELECT relname || ' ' || array_to_string(reloptions, ',') AS line
        FROM pg_class WHERE relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL ORDER BY 1`),
    functions: await lines(sql`
      SELECT regexp_replace(pg_get_functiondef(oid), '[[:space:]]+', ' ', 'g') AS line FROM pg_proc
       WHERE pronamespace = 'public'::regnamespace ORDER BY proname, pg_get_function_identity_arguments(oid)`),
    triggers: await lines(sql`
      SELECT pg_get_triggerdef(oid) AS line FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`),
    comments: await lines(sql`
      SELECT c.relname || '.' || a.attname || ' ' || d.description AS line
        FROM pg_description d
        JOIN pg_class c ON c.oid = d.objoid AND c.relnamespace = 'public'::regnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
       ORDER BY 1`),
  };
}
