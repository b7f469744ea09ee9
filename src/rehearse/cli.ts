#!/usr/bin/env node
import type { InstanceProcess } from './instance-process.ts'
import { rehearse } from './rehearsal.ts'
import type { RehearsalReport } from './rehearsal-report.ts'
import { formatReport, formatRunLine, formatRunsSummary } from './report-text.ts'
import { RehearseError } from './rehearse-error.ts'
import { parseRehearseOptions, type RehearseOptions, usage } from './rehearse-options.ts'
import { type RunLine, runOptions, RunsTally } from './runs.ts'
import { statusWriter } from './status-line.ts'

// `lameduck <verb>`: the package's command line. Exit 0: the rehearsal passed (every run of --runs); 1: it failed
// (something was lost, or the service outlived the grace period); 2: it could not run (the message says why).
const [verb, ...args] = process.argv.slice(2)
if (verb === undefined || verb === '-h' || verb === '--help' || args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`${usage}\n`)
  process.exit(verb === undefined ? 2 : 0)
}
if (verb !== 'rehearse') {
  process.stderr.write(`lameduck: unknown command ${JSON.stringify(verb)}; the only command is rehearse\n${usage}\n`)
  process.exit(2)
}

// The instances of the run under way (with --runs, only its own: an old run's process group id may be reused).
let started: InstanceProcess[] = []
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
  if (options.runs === 1) {
    const report = await rehearse(runOptions(options, 0), { onInstance: (i) => started.push(i), onProgress: (p) => status.update(p) })
    status.clear()
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
    process.exitCode = report.verdict.pass ? 0 : 1
  } else {
    process.exitCode = await rehearseRuns(options)
  }
} catch (error) {
  status.clear()
  if (!(error instanceof RehearseError)) throw error
  process.stderr.write(`lameduck rehearse: ${error.message}\n`)
  process.exitCode = 2
}

/**
 * --runs N: N rehearsals in a row, each with fresh instances. Each run's line is printed as it ends (the full
 * report of a run that failed too), the summary at the end. A first run that cannot take place stops it all
 * (exit 2: the command or its settings are wrong); a later one is counted and the runs go on.
 */
async function rehearseRuns(options: RehearseOptions): Promise<number> {
  const tally = new RunsTally()
  const failedReports: RehearsalReport[] = []
  for (let index = 0; index < options.runs; index++) {
    const run = runOptions(options, index)
    started = []
    let line: RunLine
    try {
      const report = await rehearse(run, { onInstance: (i) => started.push(i), onProgress: (p) => status.update(p) })
      line = tally.add(index + 1, run.platform, report)
      if (!report.verdict.pass) failedReports.push(report)
      status.clear()
      if (!options.json) process.stdout.write(formatRunLine(line, options.runs) + (report.verdict.pass ? '' : formatReport(report).replace(/^(?=.)/gm, '    ')))
    } catch (error) {
      status.clear()
      if (!(error instanceof RehearseError) || index === 0) throw error
      line = tally.addError(index + 1, run.platform, error.message)
      if (!options.json) process.stdout.write(formatRunLine(line, options.runs))
    }
  }
  const summary = tally.summary()
  process.stdout.write(options.json ? `${JSON.stringify({ ...summary, failedReports }, null, 2)}\n` : formatRunsSummary(summary))
  return summary.totals.failed > 0 ? 1 : summary.totals.errors > 0 ? 2 : 0
}
