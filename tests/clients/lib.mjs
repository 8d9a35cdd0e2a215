// Shared setup of the Node client tests: where the gateway is, the pinned client
// packages, the tools the tests offer and an inline PNG. The Go test
// (clients_test.go) starts the gateway and runs `node --test tests/clients/` with
// TOLLGATE_BASE_URL, TOLLGATE_KEY, TOLLGATE_MODELS and TOLLGATE_EMBEDDING_MODELS
// set.
//
// The packages are pinned in tests/tools/package.json and installed by
// `npm ci --prefix tests/tools`; Node's ESM resolution does not look there from
// this folder (nor honour NODE_PATH), so they are loaded with a require rooted
// at tests/tools. Every package is loaded the same way, so each exists once
// (one zod, one @langchain/core) and instanceof checks hold.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { deflateSync } from 'node:zlib';

export const load = createRequire(new URL('../tools/package.json', import.meta.url));

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: these tests run against a gateway; run them with ` +
      '`go test ./tests/clients/`, which starts one');
  }
  return v;
}

/** baseURL is the gateway's OpenAI-compatible API, ending in /v1. */
export const baseURL = need('TOLLGATE_BASE_URL');
/** apiKey is a tenant key allowed to use every model. */
export const apiKey = need('TOLLGATE_KEY');
/** models are the chat models every chat test runs against, one subtest each. */
export const models = list(need('TOLLGATE_MODELS'));
/** embeddingModels are the embedding models; none when TOLLGATE_EMBEDDING_MODELS is unset. */
export const embeddingModels = list(process.env.TOLLGATE_EMBEDDING_MODELS ?? '');

function list(v) {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/** timeout bounds each test: the gateway and its fakes are on loopback. */
export const timeout = 15_000;

const { z } = load('zod');
export { z };

// The two tools every tool test offers. Markers are what the tools answer; the
// final text must carry at least one of them back.
export const weatherSchema = z.object({
  city: z.string().describe('the city'),
  unit: z.enum(['celsius', 'fahrenheit']).describe('the temperature unit'),
});
export const timeSchema = z.object({
  timezone: z.string().describe('an IANA time zone'),
  days: z.number().int().min(0).describe('days from today'),
});
export const tools = {
  get_weather: { description: 'Get the current weather in a city', schema: weatherSchema, marker: 'sunny-21-degrees' },
  get_time: { description: 'Get the local time in a time zone', schema: timeSchema, marker: 'clock-10-42' },
};

/** jsonSchema returns the JSON Schema of a zod schema, as a request carries it. */
export function jsonSchema(schema) {
  const { $schema, ...rest } = z.toJSONSchema(schema);
  return rest;
}

/** openaiTools are the tools in Chat Completions' shape. */
export function openaiTools() {
  return Object.entries(tools).map(([name, t]) => ({
    type: 'function',
    function: { name, description: t.description, parameters: jsonSchema(t.schema) },
  }));
}

/** checkArgs asserts that a tool call names an offered tool with valid arguments. */
export function checkArgs(name, args) {
  const t = tools[name];
  assert.ok(t, `the model called ${JSON.stringify(name)}, which was not offered`);
  const r = t.schema.safeParse(args);
  assert.ok(r.success, `arguments of ${name} ${JSON.stringify(args)} do not match its schema: ${r.error}`);
}

/** wantMarker asserts that text is not empty and carries a tool result. */
export function wantMarker(text) {
  assert.equal(typeof text, 'string', `final answer is ${typeof text}, want text`);
  assert.ok(text.trim() !== '', 'final answer is empty');
  const markers = Object.values(tools).map((t) => t.marker);
  assert.ok(markers.some((m) => text.includes(m)),
    `final answer ${JSON.stringify(text)} carries none of the tool results ${JSON.stringify(markers)}`);
}

// The structured answer the structured-output tests ask for.
export const personSchema = z.object({
  name: z.string(),
  age: z.number().int().min(0),
  tags: z.array(z.string()),
  role: z.enum(['admin', 'user']),
  active: z.boolean(),
});

/** wantUsage asserts that OpenAI usage counts are positive and add up. */
export function wantUsage(u, what = 'usage') {
  assert.ok(u, `${what} is missing`);
  assert.ok(u.prompt_tokens > 0, `${what}.prompt_tokens = ${u.prompt_tokens}, want > 0`);
  assert.ok(u.completion_tokens > 0, `${what}.completion_tokens = ${u.completion_tokens}, want > 0`);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens, `${what}.total_tokens`);
}

// png returns a valid PNG image of w x h red pixels.
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, Buffer.from([255, 0, 0]))]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** pngDataURL is a small inline PNG, as a data URL. */
export const pngDataURL = 'data:image/png;base64,' + png(2, 2).toString('base64');
