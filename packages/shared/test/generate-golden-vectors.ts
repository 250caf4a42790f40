// Generates packages/shared/test/golden-vectors.json ONCE. The vectors are frozen: this script refuses to
// overwrite an existing file. Every vector is computed with the REFERENCE implementations (canonicalize +
// uuid v5) and cross-checked against the fast path before anything is written.
//
//   npx tsx packages/shared/test/generate-golden-vectors.ts
//
// Inputs are kept as JSON text exactly as written here (so -0, 1E30, 9007199254740993 and escapes survive
// into the file); the test reads them back with JSON.parse, as pg reads a jsonb column. The frozen file was
// then laid out with `npx biome check --write` (whitespace only; every value verified identical afterwards).

import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import canonicalize from 'canonicalize';
import { v5 as uuidv5 } from 'uuid';
import { canonicalEvent, EVENT_ID_NAMESPACE, eventId } from '../src/event-id/index.js';

const OUT = fileURLToPath(new URL('./golden-vectors.json', import.meta.url));

const RUN = '"6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b"';

interface Fields {
  run_id?: string;
  event_type?: string;
  level?: string;
  message?: string;
  data?: string;
}

/** A row as JSON text; every value is raw JSON text. */
function row(data: string, f: Fields = {}): string {
  return (
    `{"run_id":${f.run_id ?? RUN},"event_type":${f.event_type ?? '"step.finished"'},` +
    `"level":${f.level ?? '"info"'},"message":${f.message ?? '"ok"'},"data":${data}}`
  );
}

const nestObjects = (depth: number): string => '{"a":'.repeat(depth) + '"bottom"' + '}'.repeat(depth);
const nestArrays = (depth: number): string => '['.repeat(depth) + '1' + ']'.repeat(depth);

const cases: { name: string; json: string }[] = [
  { name: 'null message and null data', json: row('null', { message: 'null' }) },
  { name: 'null message, object data', json: row('{"a":1}', { message: 'null' }) },
  { name: 'string message, null data', json: row('null', { message: '"started"' }) },
  { name: 'simple object data', json: row('{"a":1,"b":"x"}') },
  { name: 'key order permutation 1', json: row('{"b":2,"a":1,"c":{"z":1,"y":[3,{"q":1,"p":2}]}}') },
  {
    name: 'key order permutation 2 (same event)',
    json: row('{"c":{"y":[3,{"p":2,"q":1}],"z":1},"a":1,"b":2}'),
  },
  {
    name: 'top-level keys in another order (same event as "simple object data")',
    json:
      '{"data":{"b":"x","a":1},"message":"ok","level":"info","event_type":"step.finished","run_id":' +
      RUN +
      '}',
  },
  {
    name: 'extra columns id, timestamp, event_id are ignored (same event as "simple object data")',
    json:
      '{"id":"12345","timestamp":"2024-05-01T12:00:00.000Z","event_id":"00000000-0000-0000-0000-000000000000",' +
      '"run_id":' +
      RUN +
      ',"event_type":"step.finished","level":"info","message":"ok","data":{"a":1,"b":"x"},"other":[1,2]}',
  },
  {
    name: 'upper-case run_id is lowercased',
    json: row('{"a":1,"b":"x"}', { run_id: '"6F1C2B9E-3A4D-4E5F-8A7B-9C0D1E2F3A4B"' }),
  },
  {
    name: 'mixed-case run_id is lowercased',
    json: row('{"a":1,"b":"x"}', { run_id: '"6f1C2b9E-3a4D-4e5F-8a7B-9c0D1e2F3a4B"' }),
  },
  { name: 'nil run_id', json: row('{}', { run_id: '"00000000-0000-0000-0000-000000000000"' }) },
  {
    name: 'nested timestamp is part of the event',
    json: row('{"a":1,"b":"x","timestamp":"2024-05-01T12:00:00.000Z"}'),
  },
  { name: 'nested id and event_id are part of the event', json: row('{"id":7,"event_id":"x","run_id":"y"}') },
  { name: 'nested arrays', json: row('[[1,[2,[3,[]]]],[],[[[]]]]') },
  {
    name: 'array of objects with different key orders',
    json: row('[{"b":1,"a":2},{"a":2,"b":1},{"c":{"e":5,"d":4}}]'),
  },
  { name: 'empty strings everywhere', json: row('""', { event_type: '""', level: '""', message: '""' }) },
  { name: 'empty object data', json: row('{}') },
  { name: 'empty array data', json: row('[]') },
  { name: 'empty object key and value', json: row('{"":"","a":{},"b":[]}') },
  { name: 'string data', json: row('"hello"') },
  { name: 'number data', json: row('42') },
  { name: 'boolean true data', json: row('true') },
  { name: 'booleans and nulls inside', json: row('{"t":true,"f":false,"n":null,"arr":[true,false,null]}') },
  { name: 'number 1e21', json: row('{"n":1e21}') },
  { name: 'number 1e-7', json: row('{"n":1e-7}') },
  { name: 'number -0 serializes as 0', json: row('{"n":-0,"m":[-0.0]}') },
  { name: 'number 0.1', json: row('{"n":0.1}') },
  { name: 'number 2^53+1 as written (rounds to 2^53)', json: row('{"n":9007199254740993}') },
  { name: 'number 333333333.3333333', json: row('{"n":333333333.3333333}') },
  { name: 'number 1e+30', json: row('{"n":1e+30}') },
  { name: 'number 4.5', json: row('{"n":4.5}') },
  { name: 'number 0.002', json: row('{"n":0.002}') },
  { name: 'number 1e-27', json: row('{"n":1e-27}') },
  { name: 'number spellings 1E2, 1.0, 10.50, 2e-3', json: row('[1E2,1.0,10.50,2e-3,0E0,-1e0]') },
  {
    name: 'RFC 8785 section 3.2.2 sample',
    json: row(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    ),
  },
  {
    name: 'RFC 8785 section 3.2.3 sorting example',
    json: row(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh",' +
        '"1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control",' +
        '"\\u00f6":"Latin Small Letter O With Diaeresis"}',
    ),
  },
  {
    name: 'UTF-16 order: emoji key sorts before U+FB33 (code points would not)',
    json: row('{"\\ufb33":1,"\\ud83d\\ude00":2,"\\u20ac":3,"\\uffff":4,"\\ud800\\udc00":5}'),
  },
  {
    name: 'RFC 8785 appendix B numbers',
    json: row(
      '[5e-324,-5e-324,1.7976931348623157e308,-1.7976931348623157e308,9007199254740992,-9007199254740992,' +
        '295147905179352830000,9.999999999999997e22,1e23,1.7976931348623157e+308,0.000001,1e-7,1e21,' +
        '999999999999999700000,333333333.3333332,-0.000001]',
    ),
  },
  {
    name: 'integer boundaries',
    json: row('{"max":9007199254740991,"min":-9007199254740991,"neg":-1,"big":1e300}'),
  },
  {
    name: 'numeric-looking keys sort as strings',
    json: row('{"10":"ten","9":"nine","1":"one","a":"a","01":"zero-one","-1":"minus"}'),
  },
  {
    name: 'case and prefix ordering of keys',
    json: row('{"a":1,"A":2,"aa":3,"":4,"a b":5,"B":6,"_":7,"~":8}'),
  },
  { name: '__proto__ is an ordinary key', json: row('{"__proto__":{"x":1},"constructor":"c","toString":1}') },
  {
    name: 'control characters are escaped',
    json: row(
      '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f' +
        '\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f' +
        ' \\u007f"',
    ),
  },
  {
    name: 'control characters without U+0000',
    json: row('{"k\\tey":"a\\tb\\nc\\r\\u0001\\u001f\\b\\f"}', { message: '"line1\\nline2"' }),
  },
  {
    name: 'U+2028 and U+2029 are not escaped',
    json: row('{"ls":"a\\u2028b","ps":"c\\u2029d","\\u2028":1}', { message: '"x\\u2028y\\u2029z"' }),
  },
  {
    name: 'quotes, backslashes and slashes',
    json: row('{"q":"say \\"hi\\"","b":"C:\\\\path\\\\to","s":"a/b\\/c"}'),
  },
  {
    name: 'emoji and non-ASCII in every text field',
    json: row('{"msg":"🚀 déjà vu 東京 данные","flag":"🏳️‍🌈","skin":"👍🏽"}', {
      event_type: '"tool.call🔧"',
      level: '"inføo"',
      message: '"Zürich → 東京 😀"',
    }),
  },
  {
    name: 'precomposed and decomposed keys are distinct',
    json: row('{"\\u00e9":"precomposed","e\\u0301":"decomposed"}'),
  },
  { name: 'deep object nesting (64 levels)', json: row(nestObjects(64)) },
  { name: 'deep array nesting (200 levels)', json: row(nestArrays(200)) },
  {
    name: 'many keys (more than the insertion-sort threshold)',
    json: row(
      '{' +
        Array.from({ length: 40 }, (_, i) => `"k${(i * 7919) % 40}":${i}`)
          .reverse()
          .join(',') +
        '}',
    ),
  },
  {
    name: 'level and event_type are opaque strings',
    json: row('{"a":1}', { level: '"WARN"', event_type: '"Step Finished"' }),
  },
  {
    name: 'realistic row',
    json: row(
      '{"step":12,"attempt":2,"duration_ms":1532.25,"ok":false,"error":{"code":"ETIMEDOUT","retryable":true},' +
        '"tool":{"name":"fetch","args":["https://example.com/a?b=c",30000,null]},"tags":["net","retry"]}',
      { event_type: '"tool.result"', level: '"warn"', message: '"fetch timed out after 30s; retrying"' },
    ),
  },
];

function referenceEventId(input: Record<string, unknown>): { canonical: string; event_id: string } {
  const canonical = canonicalize({
    run_id: (input.run_id as string).toLowerCase(),
    event_type: input.event_type,
    level: input.level,
    message: input.message,
    data: input.data,
  });
  if (canonical === undefined) throw new Error('canonicalize returned undefined');
  return { canonical, event_id: uuidv5(canonical, EVENT_ID_NAMESPACE) };
}

function main(): void {
  if (existsSync(OUT)) {
    console.error(`${OUT} exists: golden vectors are frozen and are never regenerated.`);
    process.exit(1);
  }
  const names = new Set<string>();
  const entries: string[] = [];
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate name ${c.name}`);
    names.add(c.name);
    const input = JSON.parse(c.json) as Record<string, unknown>;
    const ref = referenceEventId(input);
    const fast = { canonical: canonicalEvent(input), event_id: eventId(input) };
    if (fast.canonical !== ref.canonical || fast.event_id !== ref.event_id) {
      throw new Error(
        `fast path disagrees with the reference on "${c.name}":\n${fast.canonical}\n${ref.canonical}`,
      );
    }
    entries.push(
      `  {\n    "name": ${JSON.stringify(c.name)},\n    "input": ${c.json},\n` +
        `    "canonical": ${JSON.stringify(ref.canonical)},\n    "event_id": ${JSON.stringify(ref.event_id)}\n  }`,
    );
  }
  writeFileSync(OUT, `[\n${entries.join(',\n')}\n]\n`, { flag: 'wx' });
  console.log(`wrote ${entries.length} golden vectors to ${OUT}`);
}

main();
