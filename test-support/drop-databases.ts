// A vitest setupFile: runs in each test file's context. Its afterAll is registered before the file's own
// hooks, so (after hooks run in reverse) it runs last and drops every database the file made through
// test-support/db.ts. WITH (FORCE) ends whatever connections the file left open.
import { afterAll } from 'vitest';
import { dropCreatedDatabases } from './db.js';

afterAll(dropCreatedDatabases);
