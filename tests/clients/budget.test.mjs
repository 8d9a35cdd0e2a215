// A budget refusal through the official openai SDK with its default retries:
// the 429 budget_exceeded carries Retry-After until the period resets (hours),
// and x-should-retry: false, so the SDK raises it after one request instead of
// sleeping out Retry-After before each of its two retries.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { baseURL, load, models, timeout } from './lib.mjs';

const { OpenAI, RateLimitError } = load('openai');

const brokeKey = process.env.TOLLGATE_BROKE_KEY;

describe('openai SDK, budget refusal', { timeout }, () => {
  for (const [name, call] of [
    ['chat.completions.create', (c) => c.chat.completions.create({ model: models[0], messages: [{ role: 'user', content: 'hello' }] })],
    ['responses.create', (c) => c.responses.create({ model: models[0], input: 'hello' })],
  ]) {
    test(`${name} raises the refusal after one request`, async () => {
      assert.ok(brokeKey, 'TOLLGATE_BROKE_KEY is not set');
      let requests = 0;
      const counted = (url, init) => { requests++; return fetch(url, init); };
      // The SDK's defaults: two retries, honouring Retry-After.
      const client = new OpenAI({ baseURL, apiKey: brokeKey, fetch: counted });
      const err = await call(client).then(() => null, (e) => e);
      assert.ok(err instanceof RateLimitError, `want a RateLimitError, got ${err}`);
      assert.equal(err.code, 'budget_exceeded');
      assert.ok(Number(err.headers.get('retry-after')) > 0, 'Retry-After is missing');
      assert.equal(requests, 1, 'the SDK retried a refusal no retry can pass');
    });
  }
});
