#!/usr/bin/env node
import type { InstanceProcess } from './instance-process.ts'
import { rehearse } from './rehearsal.ts'
import { formatReport } from './report-text.ts'
import { RehearseError } from './rehearse-error.ts'
import { parseRehearseOptions, usage } from './rehearse-options.ts'
import { statusWriter } from './status-line.ts'

// `lameduck <verb>`: the package's command line. Exit 0: the rehearsal passed; 1: it failed (something
// was lost, or the service outlived the grace period); 2: it could not run (the message says why).
const [verb, ...args] = process.argv.slice(2)
if (verb === undefined || verb === '-h' || verb === '--help' || args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`${usage}\n`)
  process.exit(verb === undefined ? 2 : 0)
}
if (verb !== 'rehearse') {
  process.stderr.write(`lameduck: unknown command ${JSON.stringify(verb)}; the only command is rehearse\n${usage}\n`)
  process.exit(2)
}

const started: InstanceProcess[] = []
// Ctrl-C, or a CI job's timeout: the instances run in their own process groups, so nothing the rehearsal
// started may outlive it unless it is killed here.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  process.once(signal, () => {
    for (const instance of started) instance.kill()
    process.exit(code)
  })
}

const status = statusWriter(process.stderr)
try {
  const options = parseRehearseOptions(args)
  const report = await rehearse(options, { onInstance: (i) => started.push(i), onProgress: (p) => status.update(p) })
  status.clear()
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
  process.exitCode = report.verdict.pass ? 0 : 1
} catch (error) {
  status.clear()
  if (!(error instanceof RehearseError)) throw error
  process.stderr.write(`lameduck rehearse: ${error.message}\n`)
  process.exitCode = 2
}
