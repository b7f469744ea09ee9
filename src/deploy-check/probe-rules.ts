import type { ServiceFacts } from './service-facts.ts'

const roles = {
  health: 'liveness probe, which stays 200 during a drain',
  ready: 'readiness probe, which answers 503 while starting, at capacity and draining',
} as const

/** A platform's probe setting must name the service's probe of the same role, and a path it serves. */
export function probeProblems(service: ServiceFacts, role: 'health' | 'ready', value: unknown): { value: unknown; expected: string }[] {
  const path = service.probes[role]
  if (path === false) return [{ value, expected: `no ${role} probe: the service was built without one` }]
  const want = `"${path}", the service's ${roles[role]}`
  if (typeof value !== 'string' || value === '') {
    return [{ value, expected: `${want} (without it the platform only checks that the port accepts connections)` }]
  }
  if (value === path) return []
  if (!service.servesGet(value)) return [{ value, expected: `${want}; the service does not serve GET ${value}` }]
  return [{ value, expected: want }]
}
