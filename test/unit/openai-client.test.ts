// The OpenAI client asks the credentials for the key before each request and answers a 401 (a rotated
// key) by re-reading it and sending the same request once more with the new key.
import { expect, it } from 'vitest';
import type { Credentials, OpenAiCredentials } from '../../src/adapters/credentials.js';
import { openAiClient } from '../../src/wiring/openai.js';

/** The secret as Secrets Manager holds it; `refresh` reads what the store has now. */
function rotatingKey(initial: string) {
  let cached = { apiKey: initial };
  let stored = cached;
  const credentials: Credentials<OpenAiCredentials> = {
    get: async () => cached,
    refresh: async () => {
      const changed = stored !== cached;
      cached = stored;
      return changed;
    },
  };
  const rotate = (apiKey: string) => {
    stored = { apiKey };
  };
  return { credentials, rotate };
}

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_795_000_000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'You matter.' } }],
  usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 },
};

function openAiStandIn(validKey: () => string) {
  const keys: string[] = [];
  const bodies: string[] = [];
  const fetchImpl = (async (_input: string | URL | Request, init?: RequestInit) => {
    const key = new Headers(init?.headers).get('authorization')?.replace(/^Bearer /, '') ?? '';
    keys.push(key);
    bodies.push(String(init?.body));
    return key === validKey()
      ? Response.json(completion)
      : Response.json(
          { error: { message: 'Incorrect API key provided', code: 'invalid_api_key' } },
          { status: 401 },
        );
  }) as typeof fetch;
  return { fetchImpl, keys, bodies };
}

const ask = (client: ReturnType<typeof openAiClient>) =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

it('retries a refused request once with the rotated key, and uses it from then on', async () => {
  const key = rotatingKey('sk-old-0123456789abcdefghij');
  let valid = 'sk-old-0123456789abcdefghij';
  const openai = openAiStandIn(() => valid);
  const client = openAiClient(key.credentials, openai.fetchImpl);
  await ask(client);

  valid = 'sk-new-0123456789abcdefghij';
  key.rotate(valid);
  const answer = await ask(client);
  await ask(client);

  expect(answer.choices[0]?.message.content).toBe('You matter.');
  expect(openai.keys).toEqual([
    'sk-old-0123456789abcdefghij',
    'sk-old-0123456789abcdefghij',
    'sk-new-0123456789abcdefghij',
    'sk-new-0123456789abcdefghij',
  ]);
  expect(openai.bodies[2]).toBe(openai.bodies[1]); // the same request, sent again
});

it('gives up with the 401 when the secret holds no newer key', async () => {
  const key = rotatingKey('sk-revoked-0123456789abcdef');
  const openai = openAiStandIn(() => 'sk-somebody-else-0123456789');
  await expect(ask(openAiClient(key.credentials, openai.fetchImpl))).rejects.toMatchObject({ status: 401 });
  expect(openai.keys).toHaveLength(1);
});
