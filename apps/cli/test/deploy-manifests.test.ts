// The Kubernetes manifests under deploy/kubernetes, checked without a cluster: each document validated
// against the Kubernetes (and KEDA) schemas with kubernetes-models, and everything a manifest tells a
// program — its bin, every flag, every environment variable — is something that program accepts.
import { readdirSync, readFileSync } from 'node:fs';
import { WORKER_FLAGS } from '@backfill/control/flags';
import { EnvSchema } from '@backfill/engine/config';
import { DASHBOARD_FLAGS } from '@backfill/operator/flags';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildProgram } from '../src/program.js';

const dir = new URL('../../../deploy/kubernetes/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
type Doc = { kind: string; metadata: { name: string }; [k: string]: unknown };
const docs: Array<{ file: string; doc: Doc }> = files.flatMap((file) =>
  parseAllDocuments(readFileSync(new URL(file, dir), 'utf8')).map((d) => ({ file, doc: d.toJSON() as Doc })),
);

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  Deployment: Deployment as never,
  Job: Job as never,
  Service: Service as never,
  ConfigMap: ConfigMap as never,
  Secret: Secret as never,
  ScaledObject: ScaledObject as never,
};

const flagNames = (specs: readonly { flags: string }[]) => new Set(specs.map((f) => f.flags.split(' ')[0]!));
const ACCEPTED_ENV = new Set([...Object.keys(EnvSchema.shape), 'DASHBOARD_TOKEN']);

function containersOf(
  doc: Doc,
): Array<{ command?: string[]; args?: string[]; env?: Array<{ name: string }> }> {
  const spec = (doc as { spec?: { template?: { spec?: { containers?: never[] } } } }).spec;
  return spec?.template?.spec?.containers ?? [];
}

/** The flags commander knows for `backfill <command>`. */
function cliFlags(command: string): Set<string> {
  const cmd = buildProgram().commands.find((c) => c.name() === command);
  if (!cmd) throw new Error(`backfill has no command ${command}`);
  return new Set(cmd.options.map((o) => o.long!));
}

describe('deploy/kubernetes', () => {
  it('every document is valid against the Kubernetes and KEDA schemas', () => {
    expect(docs.length).toBeGreaterThanOrEqual(7);
    for (const { file, doc } of docs) {
      if (doc.kind === 'Kustomization') continue;
      const Model = MODELS[doc.kind];
      expect(Model, `${file}: ${doc.kind}`).toBeDefined();
      expect(
        () => new Model!(doc as never).validate(),
        `${file}: ${doc.kind} ${doc.metadata.name}`,
      ).not.toThrow();
    }
  });

  it('the kustomization lists every manifest', () => {
    const k = docs.find((d) => d.doc.kind === 'Kustomization')!.doc as unknown as { resources: string[] };
    expect([...k.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml').sort());
  });

  it('every command, flag and environment variable is one the program accepts', () => {
    const worker = flagNames(WORKER_FLAGS);
    const dashboard = flagNames(DASHBOARD_FLAGS);
    let checked = 0;
    for (const { file, doc } of docs) {
      for (const c of containersOf(doc)) {
        const [bin, ...args] = [...(c.command ?? []), ...(c.args ?? [])];
        const flags = args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!);
        const known =
          bin === 'backfill-worker'
            ? worker
            : bin === 'backfill-dashboard'
              ? dashboard
              : bin === 'backfill'
                ? cliFlags(args[0]!)
                : null;
        expect(known, `${file}: unknown program ${bin}`).not.toBeNull();
        for (const f of flags) expect(known, `${file}: ${bin} ${f}`).toContain(f);
        for (const e of c.env ?? []) expect(ACCEPTED_ENV, `${file}: ${e.name}`).toContain(e.name);
        checked++;
      }
      if (doc.kind === 'ConfigMap' || doc.kind === 'Secret') {
        const data = { ...(doc as { data?: object }).data, ...(doc as { stringData?: object }).stringData };
        for (const k of Object.keys(data)) expect(ACCEPTED_ENV, `${file}: ${k}`).toContain(k);
      }
    }
    expect(checked).toBe(3);
  });

  it("the worker's probes are the paths its metrics port serves, and the grace period covers its shutdown", () => {
    const w = docs.find((d) => d.doc.kind === 'Deployment' && d.doc.metadata.name === 'backfill-worker')!
      .doc as never as {
      spec: {
        template: {
          spec: { terminationGracePeriodSeconds: number; containers: Array<Record<string, never>> };
        };
      };
    };
    const c = w.spec.template.spec.containers[0] as unknown as {
      command: string[];
      readinessProbe: { httpGet: { path: string } };
      livenessProbe: { httpGet: { path: string } };
    };
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    const shutdown = c.command[c.command.indexOf('--shutdown-timeout') + 1];
    expect(shutdown).toBe('30s');
    expect(w.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(30 + 2);
  });
});
