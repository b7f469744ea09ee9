/**
 * Query parameters whose name looks like a credential: `token` (the live view's own), `access_token`,
 * `api_key`, `secret`, `password`, `signature`, `auth`... Their values never reach a log line or an
 * error reply (issue 10: `?token=` was logged in every `incoming request` line and echoed in 404s).
 */
const secretName = /token|secret|passw|key|auth|sig/i

// `name=value` after `?`, `&` or `;`. The name is bounded, so the scan stays linear on a 64 KiB URL.
const parameter = /([?&;])([\w.~%-]{1,64})=([^&;#\s'"]*)/g

/** `text` (a URL, or a message quoting one) with the values of credential-like query parameters replaced. */
export function redactQuerySecrets(text: string): string {
  // The common case, a URL without a query, costs one scan for '?'.
  if (!text.includes('?')) return text
  return text.replace(parameter, (whole, separator: string, name: string, value: string) =>
    value !== '' && secretName.test(name) ? `${separator}${name}=[redacted]` : whole,
  )
}
