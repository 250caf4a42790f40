# One image for every app: the worker deployable by default (`backfill-worker`), the operator CLI as
# `backfill <command>` (docker run IMAGE backfill status). Node 20, like development.
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV TURBO_TELEMETRY_DISABLED=1
COPY package.json package-lock.json turbo.json tsconfig.json tsconfig.base.json ./
COPY packages packages
COPY apps apps
# npm ci builds every workspace (the root "prepare" script), then dev tools are dropped.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
RUN ln -s /app/apps/cli/bin/backfill.js /usr/local/bin/backfill \
 && ln -s /app/apps/worker/bin/backfill-worker.js /usr/local/bin/backfill-worker
RUN ln -s /app/apps/api/bin/backfill-api.js /usr/local/bin/backfill-api
USER node
CMD ["backfill-worker"]
