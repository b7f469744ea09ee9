# lameduck reference service. `npm run check:deploy` checks this file against cerebrium.toml
# and deploy/k8s/lameduck.yaml; test/deploy-dockerfile.test.ts runs its steps without a Docker engine.

# Build stage: dev dependencies (TypeScript) to compile src/ into dist/.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and the compiled code only.
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist

# The service's settings, explicit so the deploy check can compare them with the platform's.
# SHUTDOWN_DELAY_MS stays 0 here: Cerebrium stops routing before it sends SIGTERM.
# The Kubernetes example sets it, because there endpoint removal races the signal.
ENV PORT=8000 \
    HOST=0.0.0.0 \
    MAX_CONCURRENCY=4 \
    DRAIN_TIMEOUT_MS=30000 \
    SHUTDOWN_DELAY_MS=0
EXPOSE 8000

# The node images ship an unprivileged `node` user (uid 1000).
USER node

# OpenTelemetry starts before Fastify loads (--import); with no OTEL_EXPORTER_OTLP_ENDPOINT it
# starts nothing and costs nothing per request (docs/observability.md).
# Exec form, node itself as PID 1: SIGTERM reaches the service. `npm start` or `sh -c`
# would receive the signal instead and not pass it on.
CMD ["node", "--import", "./dist/telemetry/register.js", "dist/main.js"]
