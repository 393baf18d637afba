// Why the generated drafts before a delivery's body were discarded (issue #20): 'guard:<rule>',
// 'moderation_flagged', 'moderation_unavailable', 'model_refusal', 'content_filter', in order. Empty when the
// first draft went out; null when nothing recorded it (a curated-only writer, or rows older than this).
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE deliveries ADD COLUMN replacement_reasons text[]
      CONSTRAINT deliveries_replacement_reasons_check CHECK (
        cardinality(replacement_reasons) <= 10
        AND array_to_string(replacement_reasons, ',') ~ '^([a-z_]+(:[a-z_]+)?(,|$))*$'
      )
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE deliveries DROP COLUMN replacement_reasons`.execute(db);
}
