// zod schemas on Fastify routes: a validator compiler that runs the route's zod schema and turns its
// first issue into a 400 naming the field (`events[2].level`, `runId`, `limit`), and the JSON Schema of a
// zod schema for response serialization (fast-json-stringify), so both come from one definition.
//
// (fastify-type-provider-zod does the same, but its 7.x requires @fastify/swagger and openapi-types as
// peer dependencies, which this service does not use.)
import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { badRequest } from './errors.js';

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A zod issue path in event-id's notation: `events[2].data.a`, `["odd key"]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let p = '';
  for (const k of path) {
    if (typeof k === 'number') p += `[${k}]`;
    else if (IDENTIFIER.test(String(k))) p += p === '' ? String(k) : `.${String(k)}`;
    else p += `[${JSON.stringify(String(k))}]`;
  }
  return p;
}

type Issue = z.core.$ZodIssue;

/**
 * The issue to report. For a union (one event or a batch), the branch the client meant: the one that
 * does not call the request's own keys unknown, and then the one whose first issue is deepest.
 */
export function primaryIssue(issues: readonly Issue[]): Issue {
  const first = issues[0]!;
  if (first.code !== 'invalid_union' || first.errors.length === 0) return first;
  const branches = first.errors
    .filter((b) => b.length > 0)
    .map((b) => ({ b, unknownKeys: b.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0) }));
  branches.sort(
    (x, y) => Number(x.unknownKeys) - Number(y.unknownKeys) || y.b[0]!.path.length - x.b[0]!.path.length,
  );
  const chosen = branches[0]?.b;
  if (!chosen) return first;
  const inner = primaryIssue(chosen);
  return { ...inner, path: [...first.path, ...inner.path] } as Issue;
}

const PART_NAMES: Record<string, string> = {
  body: 'body',
  params: 'path',
  querystring: 'query',
  headers: 'header',
};

function describe(issue: Issue): string {
  if (issue.code === 'unrecognized_keys') {
    if (issue.keys.length === 1) return 'unknown field';
    return `unknown fields ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) return 'required';
  return issue.message;
}

/** Fastify validator compiler for zod schemas. */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (data: unknown) => {
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    const issue = primaryIssue(result.error.issues);
    const path =
      issue.code === 'unrecognized_keys' && issue.keys.length === 1
        ? [...issue.path, issue.keys[0]!]
        : issue.path;
    // Header names as HTTP spells them (`last-event-id`); everything else in event-id's path notation.
    const field = httpPart === 'headers' ? path.map(String).join('.') : fieldPath(path);
    const where = field || PART_NAMES[httpPart ?? 'body'] || 'request';
    return { error: badRequest(where, describe(issue)) };
  };

/** The JSON Schema (draft 7) of a zod schema's output, for Fastify's response serializer. */
export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { target: 'draft-7', io: 'output', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  delete s.$schema;
  return s;
}
