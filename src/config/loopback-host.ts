import { BlockList, isIPv4, isIPv6 } from 'node:net'

const loopback = new BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')
// IPv4-mapped IPv6: `::ffff:127.0.0.1` is 127.0.0.1.
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

/**
 * Whether binding to `host` keeps the server reachable from this host only: `localhost` (RFC 6761
 * reserves it for loopback), an address in 127.0.0.0/8, or `::1`. `0.0.0.0`, `::` and every other
 * name or address may be reachable from elsewhere.
 */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true
  if (isIPv4(host)) return loopback.check(host, 'ipv4')
  if (isIPv6(host)) return loopback.check(host, 'ipv6')
  return false
}
