#!/bin/sh
# The published thousand stops (docs/reliability.md, "1,000 rehearsals"): 500 in each order, side by side,
# from a frozen copy of the build (.published/dist) so that rebuilding dist/ meanwhile cannot touch it.
cd "$(dirname "$0")/../../.." || exit 2 # the repository root, after npm run build
# The project's own Node 24 (node_modules/.bin), as npm scripts put it first on PATH.
export PATH="$PWD/../node_modules/.bin:$PATH"
export MAX_CONCURRENCY=64 LOG_LEVEL=warn DRAIN_TIMEOUT_MS=3000 DRAIN_NOTICE_MS=3000
mixed="--ready-path /ready --health-path /health --probe-interval 50 --grace-period 10 --duration 800 --stop-after 300 --concurrency 4 --method POST --path /hello --body {\"work_ms\":50} --keepalive 4 --keepalive-idle 50 --fresh 4 --sse /stream?tokens=200&interval_ms=10 --sse-streams 2 --ws /ws --ws-sessions 2 --ws-interval 20"
node dist/rehearse/cli.js rehearse --runs 500 --platform cerebrium $mixed -- node dist/main.js > ./cerebrium.txt 2>&1 &
node dist/rehearse/cli.js rehearse --runs 500 --platform kubernetes --endpoint-lag 150 --env SHUTDOWN_DELAY_MS=600 --env LISTENER_AT_DRAIN=close $mixed -- node dist/main.js > ./kubernetes.txt 2>&1 &
wait
date -u > ./finished
