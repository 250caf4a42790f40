// The API's application/json body parser: strict UTF-8 (a byte sequence that is not UTF-8 is refused,
// not replaced with U+FFFD), JSON.parse (so `data` is exactly what JSON.parse gives, as event-id v1 is
// defined on), then the checks JSON.parse cannot make (storable.ts): numbers that would be stored other
// than written, U+0000, lone surrogates, absurd nesting. Each refusal is a 400 naming the field.
import { badRequest, RequestError } from '../errors.js';
import { storableProblem } from './storable.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseJsonBody(body: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new RequestError(400, 'bad_request', 'the request body is not valid UTF-8', 'body');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RequestError(400, 'bad_request', `not valid JSON (${(err as Error).message})`, 'body');
  }
  const problem = storableProblem(text);
  if (problem) throw badRequest(problem.field, problem.reason);
  return value;
}
