// POST /v1/embeddings from the official openai SDK (its default base64, which it
// decodes, and explicit float and base64), LangChain JS's OpenAIEmbeddings and
// the Vercel AI SDK's embed and embedMany: vectors in input order, of the
// model's length, of unit norm, the same for the same text, and dimensions
// where a model takes them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiKey, baseURL, embeddingModels, load, timeout } from './lib.mjs';

const { OpenAI, BadRequestError } = load('openai');
const { OpenAIEmbeddings } = load('@langchain/openai');
const { embed, embedMany } = load('ai');
const { createOpenAI } = load('@ai-sdk/openai');

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout });
const provider = createOpenAI({ baseURL, apiKey });

// shapes are what the models answer on the gateway Go test starts: their
// vectors' length when a request asks for none (8 is the OpenAI-compatible
// fake's), a dimensions they take, and one they refuse. A model not here gets
// its lengths checked for consistency only.
const shapes = {
  'echo/echo-embed-1': { length: 256, dimensions: 48 },
  'openai/text-embedding-3-small': { length: 8, dimensions: 16 },
  'bedrock/amazon.titan-embed-text-v2:0': { length: 1024, dimensions: 256, refused: 300 },
  'bedrock/cohere.embed-english-v3': { length: 1024, refused: 256 },
};

const texts = ['the cat sat on the mat', 'a dog ran in the park', 'hello big world'];

// wantVectors asserts that there are n vectors of numbers, each of the same
// length (length, when given) and of unit norm, and returns their length.
function wantVectors(vectors, n, length) {
  assert.equal(vectors.length, n, 'number of vectors');
  length ??= vectors[0].length;
  assert.ok(length > 0, 'empty vector');
  vectors.forEach((v, i) => {
    assert.ok(Array.isArray(v), `vector ${i} is ${typeof v}, want an array: ${String(v).slice(0, 80)}`);
    assert.equal(v.length, length, `length of vector ${i}`);
    assert.ok(v.every((x) => typeof x === 'number' && Number.isFinite(x)), `vector ${i} holds a value that is no number`);
    const norm = Math.hypot(...v);
    assert.ok(Math.abs(norm - 1) < 1e-4, `vector ${i} has norm ${norm}, want 1`);
  });
  return length;
}

// wantList asserts an openai SDK answer for n inputs of model and returns its
// vectors.
function wantList(res, model, n, length) {
  assert.equal(res.object, 'list');
  assert.equal(res.model, model, 'model');
  assert.deepEqual(res.data.map((d) => d.index), [...Array(n).keys()], 'indexes');
  assert.ok(res.usage?.prompt_tokens > 0, `usage.prompt_tokens = ${res.usage?.prompt_tokens}, want > 0`);
  const vectors = res.data.map((d) => d.embedding);
  wantVectors(vectors, n, length);
  return vectors;
}

// float32 decodes OpenAI's base64 embedding: little-endian float32 values.
function float32(b64) {
  const buf = Buffer.from(b64, 'base64');
  assert.equal(buf.length % 4, 0, `base64 embedding of ${buf.length} bytes`);
  return Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(4 * i));
}

for (const model of embeddingModels) {
  const shape = shapes[model] ?? {};

  describe(`embeddings, openai SDK, ${model}`, { timeout }, () => {
    test('a string, base64 decoded by the SDK', async () => {
      const res = await client.embeddings.create({ model, input: texts[2] });
      wantList(res, model, 1, shape.length);
    });

    test('strings, base64 decoded by the SDK', async () => {
      const res = await client.embeddings.create({ model, input: texts });
      const vectors = wantList(res, model, texts.length, shape.length);
      assert.notDeepEqual(vectors[0], vectors[1], 'two texts got the same vector');
    });

    test('strings, encoding_format float', async () => {
      const res = await client.embeddings.create({ model, input: texts, encoding_format: 'float' });
      wantList(res, model, texts.length, shape.length);
    });

    test('encoding_format base64 holds the float answer', async () => {
      const floats = await client.embeddings.create({ model, input: texts, encoding_format: 'float' });
      const b64 = await client.embeddings.create({ model, input: texts, encoding_format: 'base64' });
      assert.equal(b64.model, model);
      b64.data.forEach((d, i) => {
        assert.equal(typeof d.embedding, 'string', `embedding ${i} is ${typeof d.embedding}, want base64`);
        assert.deepEqual(float32(d.embedding), floats.data[i].embedding.map(Math.fround), `base64 vector ${i}`);
      });
    });

    test('the same text gets the same vector', async () => {
      const res = await client.embeddings.create({ model, input: [texts[0], texts[1], texts[0]] });
      const again = await client.embeddings.create({ model, input: texts[0] });
      const vectors = wantList(res, model, 3, shape.length);
      assert.deepEqual(vectors[2], vectors[0], 'in one request');
      assert.deepEqual(again.data[0].embedding, vectors[0], 'in two requests');
    });

    if (shape.dimensions) {
      test(`dimensions ${shape.dimensions}`, async () => {
        const res = await client.embeddings.create({ model, input: texts, dimensions: shape.dimensions });
        wantList(res, model, texts.length, shape.dimensions);
      });
    }

    if (shape.refused) {
      test(`dimensions ${shape.refused} is a 400`, async (t) => {
        await assert.rejects(client.embeddings.create({ model, input: texts[0], dimensions: shape.refused }), (err) => {
          assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
          t.diagnostic(`400 ${err.code}, param ${err.param}: ${err.message}`);
          assert.equal(err.status, 400);
          assert.equal(err.code, 'invalid_value');
          assert.equal(err.param, 'dimensions');
          return true;
        });
      });
    }
  });

  describe(`embeddings, LangChain OpenAIEmbeddings, ${model}`, { timeout }, () => {
    const lc = new OpenAIEmbeddings({ model, apiKey, configuration: { baseURL }, maxRetries: 0, timeout });

    test('embedQuery', async () => {
      const v = await lc.embedQuery(texts[0]);
      wantVectors([v], 1, shape.length);
      assert.deepEqual(await lc.embedQuery(texts[0]), v, 'the same text again');
    });

    test('embedDocuments', async () => {
      const vectors = await lc.embedDocuments(texts);
      wantVectors(vectors, texts.length, shape.length);
      assert.deepEqual(vectors[0], await lc.embedQuery(texts[0]), 'embedDocuments and embedQuery differ on one text');
    });
  });

  describe(`embeddings, AI SDK openai.embedding, ${model}`, { timeout }, () => {
    test('embed', async () => {
      const r = await embed({ model: provider.embedding(model), value: texts[0], maxRetries: 0 });
      wantVectors([r.embedding], 1, shape.length);
      assert.ok(r.usage?.tokens > 0, `usage.tokens = ${r.usage?.tokens}, want > 0`);
    });

    test('embedMany', async () => {
      const r = await embedMany({ model: provider.embedding(model), values: texts, maxRetries: 0 });
      wantVectors(r.embeddings, texts.length, shape.length);
      assert.ok(r.usage?.tokens > 0, `usage.tokens = ${r.usage?.tokens}, want > 0`);
      const one = await embed({ model: provider.embedding(model), value: texts[1], maxRetries: 0 });
      assert.deepEqual(r.embeddings[1], one.embedding, 'embedMany and embed differ on one text');
    });

    if (shape.dimensions) {
      test(`embedMany, providerOptions dimensions ${shape.dimensions}`, async () => {
        const r = await embedMany({
          model: provider.embedding(model), values: texts, maxRetries: 0,
          providerOptions: { openai: { dimensions: shape.dimensions } },
        });
        wantVectors(r.embeddings, texts.length, shape.dimensions);
      });
    }
  });
}

describe('embeddings, models list', { timeout }, () => {
  test('has every embedding model', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    for (const m of embeddingModels) assert.ok(ids.includes(m), `GET /v1/models lacks ${m}: ${ids}`);
  });
});
