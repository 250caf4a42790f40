// The Kubernetes manifests under deploy/kubernetes, checked without a cluster: each document validated
// against the Kubernetes (and KEDA) schemas with kubernetes-models, and everything a manifest tells a
// program — its bin, every flag, every environment variable — is something that program accepts.
import { readdirSync, readFileSync } from 'node:fs';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ACCEPTED_ENV, unknownFlags } from './program-contract.js';

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

function containersOf(
  doc: Doc,
): Array<{ command?: string[]; args?: string[]; env?: Array<{ name: string }> }> {
  const spec = (doc as { spec?: { template?: { spec?: { containers?: never[] } } } }).spec;
  return spec?.template?.spec?.containers ?? [];
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
    let checked = 0;
    for (const { file, doc } of docs) {
      for (const c of containersOf(doc)) {
        const argv = [...(c.command ?? []), ...(c.args ?? [])];
        expect(unknownFlags(argv), `${file}: ${argv.join(' ')}`).toEqual([]);
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
