// The webhook spool of one-machine mode: one JSON file per kept webhook in a directory, written to a
// temporary name, flushed to disk and renamed, so a crash leaves either the whole file or none. The file
// name is the webhook's identity (MessageSid, and status for a callback): keeping a repeat overwrites it.
// A text is kept once per request that kept it (its reply token is in the name too): when Twilio's fallback
// URL brings it again after our 503, either request may be the one whose commit landed unheard, and only
// that one's token claims the reply it owes (the other copy is applied as a duplicate and says nothing).
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { KeptWebhook } from '../services/ports.js';
import type { DrainableSpool } from '../services/webhook-spool.js';
import { parseKeptWebhook } from '../services/webhook-spool.js';

const SAFE = /[^A-Za-z0-9_-]/g;

function fileName(webhook: KeptWebhook): string {
  const id =
    webhook.type === 'inbound'
      ? [webhook.messageSid, webhook.replyToken].filter(Boolean).join('-')
      : `${webhook.messageSid}-${webhook.status}`;
  return `${webhook.type}-${id.replace(SAFE, '_')}.json`;
}

export function createDirectorySpool(dir: string): DrainableSpool {
  let ready: Promise<unknown> | undefined;
  const ensureDir = () => (ready ??= mkdir(dir, { recursive: true }));
  return {
    async keep(webhook) {
      await ensureDir();
      const target = path.join(dir, fileName(webhook));
      const temporary = `${target}.${process.pid}.tmp`;
      const file = await open(temporary, 'w');
      try {
        await file.writeFile(JSON.stringify(webhook));
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, target);
    },
    async pending() {
      await ensureDir();
      const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
      const kept: KeptWebhook[] = [];
      for (const name of names) {
        const webhook = parseKeptWebhook(await readFile(path.join(dir, name), 'utf8'));
        if (webhook) kept.push(webhook);
      }
      return kept;
    },
    async remove(webhook) {
      await rm(path.join(dir, fileName(webhook)), { force: true });
    },
  };
}
