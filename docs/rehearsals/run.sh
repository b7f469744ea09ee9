#!/bin/sh
# The published thousand stops (docs/reliability.md, "1,000 rehearsals"): 500 in each platform order, side by
# side, against the built reference service. Run from anywhere after `npm run build`; the output goes to
# docs/rehearsals/<commit>/. Copy dist/ elsewhere first if you will rebuild while it runs.
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 2
out="docs/rehearsals/$(git rev-parse --short HEAD)"
mkdir -p "$out"
# The project's own Node 24, as npm scripts put it first on PATH.
export PATH="$root/node_modules/.bin:$PATH"
export MAX_CONCURRENCY=64 LOG_LEVEL=warn DRAIN_TIMEOUT_MS=3000 DRAIN_NOTICE_MS=3000
mixed="--ready-path /ready --health-path /health --probe-interval 50 --grace-period 10 --duration 800 --stop-after 300 --concurrency 4 --method POST --path /hello --body {\"work_ms\":50} --keepalive 4 --keepalive-idle 50 --fresh 4 --sse /stream?tokens=200&interval_ms=10 --sse-streams 2 --ws /ws --ws-sessions 2 --ws-interval 20"
date -u > "$out/started"
node dist/rehearse/cli.js rehearse --runs 500 --platform cerebrium $mixed -- node dist/main.js > "$out/cerebrium.txt" 2>&1 &
node dist/rehearse/cli.js rehearse --runs 500 --platform kubernetes --endpoint-lag 150 --env SHUTDOWN_DELAY_MS=600 \
  --env LISTENER_AT_DRAIN=close $mixed -- node dist/main.js > "$out/kubernetes.txt" 2>&1 &
wait
date -u > "$out/finished"
