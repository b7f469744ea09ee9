# lameduck reference service. `npm run check:deploy` checks this file against cerebrium.toml
# and deploy/k8s/lameduck.yaml; test/deploy-dockerfile.test.ts runs its steps without a Docker engine.

# Build stage: dev dependencies (esbuild) to bundle src/ into dist/: the service's two entries, tree-shaken.
# Bundled, the service opens about 60 files at start instead of about 560 and is ready about as soon as bare
# Fastify (bench/findings.md, "As shipped"). OpenTelemetry and the inspector stay in node_modules.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build-image.ts ./scripts/
COPY src ./src
RUN node scripts/build-image.ts dist

# Runtime stage: the bundle, and what it leaves to node_modules (the OpenTelemetry SDK and the inspector,
# loaded only when asked for). They are optional peers of the library, so they come from the image's own
# manifest and lockfile (deploy/image), not from the library's dependencies.
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY deploy/image/package.json deploy/image/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist

# The service's settings, explicit so the deploy check can compare them with the platform's.
# SHUTDOWN_DELAY_MS stays 0 here: Cerebrium stops routing before it sends SIGTERM.
# The Kubernetes example sets it, because there endpoint removal races the signal.
# Listener kept at the drain: the health check is answered until exit (Cerebrium restarts a replica whose
# check fails); the Kubernetes example closes instead.
ENV PORT=8000 \
    HOST=0.0.0.0 \
    MAX_CONCURRENCY=4 \
    DRAIN_TIMEOUT_MS=30000 \
    SHUTDOWN_DELAY_MS=0 \
    LISTENER_AT_DRAIN=keep
EXPOSE 8000

# The node images ship an unprivileged `node` user (uid 1000).
USER node

# OpenTelemetry starts before Fastify loads (--import); with no OTEL_EXPORTER_OTLP_ENDPOINT it
# starts nothing and costs nothing per request (docs/observability.md).
# --disable-sigusr1 (Node 22.14+): SIGUSR1 would otherwise open the inspector on 127.0.0.1:9229 (issue 10).
# Exec form, node itself as PID 1: SIGTERM reaches the service. `npm start` or `sh -c`
# would receive the signal instead and not pass it on.
# test/deploy-dockerfile.test.ts starts exactly this command and drains a request in flight with it.
CMD ["node", "--disable-sigusr1", "--import", "./dist/telemetry/register.js", "dist/main.js"]
