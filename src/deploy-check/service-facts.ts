import { readEnvConfig, type ServiceConfig, envVariables, type EnvVariable } from '../config/env-config.ts'
import { LameduckError } from '../errors.ts'
import { buildService } from '../service/build-service.ts'

/** What the reference service does under a given environment: its config, probe paths and GET routes. */
export interface ServiceFacts {
  readonly config: ServiceConfig
  readonly probes: { readonly health: string | false; readonly ready: string | false }
  readonly servesGet: (path: string) => boolean
}

export interface EnvProblem {
  readonly variable: EnvVariable
  readonly value: string
  readonly expected: string
}

/**
 * Validates each variable the way the service will at start-up, so a bad value is reported
 * here, against the file that sets it, instead of as exit 78 on the platform. Each is read beside
 * the other variables that are valid on their own, since some are only valid together
 * (DRAIN_NOTICE_MS is at most DRAIN_TIMEOUT_MS); a problem is reported against the variable it names.
 */
export function envProblems(env: ReadonlyMap<string, string>): EnvProblem[] {
  const present = (Object.keys(envVariables) as EnvVariable[]).filter((variable) => env.has(variable))
  const problemOf = (values: Record<string, string>): LameduckError | null => {
    try {
      readEnvConfig(values)
      return null
    } catch (error) {
      if (!(error instanceof LameduckError)) throw error
      return error
    }
  }
  const validAlone = present.filter((variable) => problemOf({ [variable]: env.get(variable)! }) === null)
  const problems: EnvProblem[] = []
  for (const variable of present) {
    const value = env.get(variable)!
    const context = Object.fromEntries(validAlone.filter((other) => other !== variable).map((other) => [other, env.get(other)!]))
    const error = problemOf({ ...context, [variable]: value })
    if (error === null || !error.message.startsWith(`environment variable ${variable} `)) continue
    const expected = /must be (.*); received/.exec(error.message)?.[1] ?? error.message
    problems.push({ variable, value, expected })
  }
  return problems
}

/** Builds the service (no listening, no signal handlers) and asks it what it serves. */
export async function serviceFacts(env: ReadonlyMap<string, string>): Promise<ServiceFacts> {
  const config = readEnvConfig(Object.fromEntries(env))
  const app = buildService({ ...config, logLevel: 'silent', startupMs: 0 }, { signals: false, exit: false })
  try {
    await app.ready()
    const probes = app.lameduck.options.probes
    return {
      config,
      probes: { health: probes.health, ready: probes.ready },
      servesGet: (path) => app.hasRoute({ method: 'GET', url: path }),
    }
  } finally {
    await app.close()
  }
}
