# One image for every app: the worker deployable by default (`backfill-worker`), the operator CLI as
# `backfill <command>`, the dashboard as `backfill-dashboard`. Node 22 (a supported LTS line; the code
# and its tests run on Node 20 and up). Runs as the unprivileged `node` user under tini (signals reach
# the program; zombies are reaped), with only the runtime files: compiled code, migrations, the page's
# assets and production dependencies.
FROM node:22-bookworm-slim AS build
WORKDIR /app
ENV TURBO_TELEMETRY_DISABLED=1
COPY package.json package-lock.json turbo.json tsconfig.json tsconfig.base.json ./
COPY packages packages
COPY apps apps
# npm ci builds every workspace (the root "prepare" script), then dev tools are dropped and the
# runtime files gathered into /out (workspace links in node_modules keep their relative paths).
RUN npm ci && npm prune --omit=dev \
 && mkdir -p /out \
 && cp -a package.json node_modules /out/ \
 && for d in packages/* apps/*; do \
      mkdir -p /out/$d && cp -a $d/package.json $d/dist /out/$d/ \
      && if [ -d $d/bin ]; then cp -a $d/bin /out/$d/; fi; \
    done \
 && cp -a packages/shared/drizzle /out/packages/shared/

FROM node:22-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# A young generation of 8 MB semi-spaces (V8's default grows to 16 MB): a worker's peak RSS with two
# shards of 20,000-row batches fell from 198–225 MB to 155–168 MB, with the same rows/s and Node CPU
# (measured side by side, 1.5M rows). The bench runs every program with this (bench/lib.js reads it).
ENV NODE_OPTIONS=--max-semi-space-size=8
COPY --from=build --chown=node:node /out /app
RUN ln -s /app/apps/cli/bin/backfill.js /usr/local/bin/backfill \
 && ln -s /app/apps/worker/bin/backfill-worker.js /usr/local/bin/backfill-worker \
 && ln -s /app/apps/dashboard/bin/backfill-dashboard.js /usr/local/bin/backfill-dashboard \
 && ln -s /app/apps/api/bin/backfill-api.js /usr/local/bin/backfill-api
USER node
EXPOSE 9464 8090
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["backfill-worker", "--metrics-port", "9464"]
# The worker's liveness endpoint (the default command serves it); other commands: override or disable.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
