/**
 * A rehearsal that cannot run: bad flags, an unreadable deployment file, a command that never becomes ready.
 * The CLI prints the message alone (it names the flag, file or instance and the value) and exits 2,
 * so it is never mistaken for a verdict about the service.
 */
export class RehearseError extends Error {
  override readonly name = 'RehearseError'
}
