// The frozen golden vectors of event-id v1: the fast path and the reference must both reproduce every one.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import canonicalize from 'canonicalize';
import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import {
  canonicalEvent,
  EVENT_ID_NAMESPACE,
  EVENT_ID_VERSION,
  eventId,
  tryEventId,
  uuidV5,
} from '../src/event-id/index.js';

interface Vector {
  name: string;
  input: Record<string, unknown>;
  canonical: string;
  event_id: string;
}

const vectors = JSON.parse(
  readFileSync(new URL('./golden-vectors.json', import.meta.url), 'utf8'),
) as Vector[];

// A fingerprint of every frozen (name, canonical, event_id): editing the file, even together with the code,
// fails here. This value must never change (see packages/shared/SPEC.md).
const FROZEN_FINGERPRINT = '024ad15271e23269a66a1449a76b7bb1329547c3da580b81be589d156748e375';
const FROZEN_COUNT = 53;

function reference(input: Record<string, unknown>): { canonical: string; eventId: string } {
  const canonical = canonicalize({
    run_id: (input.run_id as string).toLowerCase(),
    event_type: input.event_type,
    level: input.level,
    message: input.message,
    data: input.data,
  })!;
  return { canonical, eventId: uuidv5(canonical, EVENT_ID_NAMESPACE) };
}

describe('event-id v1 golden vectors', () => {
  it('are frozen', () => {
    expect(vectors).toHaveLength(FROZEN_COUNT);
    expect(new Set(vectors.map((v) => v.name)).size).toBe(vectors.length);
    const fingerprint = createHash('sha256')
      .update(vectors.map((v) => `${v.name}\t${v.canonical}\t${v.event_id}`).join('\n'))
      .digest('hex');
    expect(fingerprint).toBe(FROZEN_FINGERPRINT);
  });

  it('use version 1 and the v1 namespace', () => {
    expect(EVENT_ID_VERSION).toBe(1);
    expect(EVENT_ID_NAMESPACE).toBe('5dd057ff-48ed-4ea7-998f-0816c58d51ff');
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    expect(canonicalEvent(v.input)).toBe(v.canonical);
    expect(eventId(v.input)).toBe(v.event_id);
    expect(tryEventId(v.input)).toEqual({ ok: true, eventId: v.event_id });
    expect(uuidV5(v.canonical)).toBe(v.event_id);
    // The reference implementations agree with the frozen values too.
    const ref = reference(v.input);
    expect(ref.canonical).toBe(v.canonical);
    expect(ref.eventId).toBe(v.event_id);
  });

  it('rows that differ only in ignored columns, key order or run_id case share an event_id', () => {
    const byName = new Map(vectors.map((v) => [v.name, v.event_id]));
    const simple = byName.get('simple object data');
    for (const [name, id] of byName) {
      if (name.includes('same event as "simple object data"') || name.includes('run_id is lowercased')) {
        expect(id, name).toBe(simple);
      }
    }
    expect(byName.get('key order permutation 2 (same event)')).toBe(byName.get('key order permutation 1'));
    expect(byName.get('nested timestamp is part of the event')).not.toBe(simple);
  });
});

describe('uuidV5', () => {
  it('matches uuid v5 for other namespaces and names', () => {
    const dns = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
    expect(uuidV5('www.example.com', dns)).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    for (const name of ['', 'a', 'é😀', 'x'.repeat(70_000), '東'.repeat(400_000)]) {
      expect(uuidV5(name, dns)).toBe(uuidv5(name, dns));
      expect(uuidV5(name)).toBe(uuidv5(name, EVENT_ID_NAMESPACE));
    }
    expect(uuidV5('a', dns.toUpperCase())).toBe(uuidv5('a', dns));
  });

  it('rejects a bad namespace and a name that is not valid Unicode', () => {
    expect(() => uuidV5('a', 'not-a-uuid')).toThrow(TypeError);
    expect(() => uuidV5('\ud800')).toThrow(/lone surrogate/);
  });
});
