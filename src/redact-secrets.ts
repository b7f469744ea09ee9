/**
 * Query parameters whose name looks like a credential: `token` (the live view's own), `access_token`,
 * `api_key`, `secret`, `password`, `signature`, `auth`... Their values never reach a log line or an
 * error reply (issue 10: `?token=` was logged in every `incoming request` line and echoed in 404s).
 */
const secretName = /token|secret|passw|key|auth|sig/i

const ampersand = 38

/**
 * `text` (a URL, or a message quoting one) with the values of credential-like query parameters replaced.
 *
 * Read exactly as Fastify reads a query (issue 19: a token with `;`, `'` or `"` in it was logged from the `;`
 * on, and `?%74oken=` not at all, while the live view accepted both). find-my-way starts the query after the
 * first `?` or `#` past the first character (or `;` too, with `useSemicolonDelimiter`: both readings are
 * redacted, whichever the app uses); fast-querystring splits it on `&` alone, a name runs to the first `=` and
 * is decoded (`+` as a space, then %-escapes), and its value runs to the next `&`, `;`, quotes, `?` and `#`
 * included. A message quoting a URL ends it at white space. Linear in the length of `text`.
 */
export function redactQuerySecrets(text: string): string {
  const plain = redactQuery(text, queryStart(text, false))
  const semicolon = queryStart(plain, true)
  return semicolon === queryStart(plain, false) ? plain : redactQuery(plain, semicolon)
}

/** Where find-my-way's query string begins (the character after its delimiter), or -1. */
function queryStart(text: string, semicolon: boolean): number {
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 63 || c === 35 || (semicolon && c === 59)) return i + 1
  }
  return -1
}

function redactQuery(text: string, start: number): string {
  if (start === -1) return text
  let out = ''
  let copied = 0
  let pair = start
  while (pair < text.length) {
    let equals = -1
    let end = pair
    for (; end < text.length; end++) {
      const c = text.charCodeAt(end)
      if (c === ampersand || isSpace(c)) break
      if (c === 61 && equals === -1) equals = end
    }
    if (equals > pair && end > equals + 1 && secretName.test(decodeName(text.slice(pair, equals)))) {
      out += `${text.slice(copied, equals + 1)}[redacted]`
      copied = end
    }
    if (end >= text.length || text.charCodeAt(end) !== ampersand) break
    pair = end + 1
  }
  return copied === 0 ? text : out + text.slice(copied)
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13
}

/** A parameter name as fast-querystring decodes it: `+` is a space, then %-escapes; a bad escape leaves it as sent. */
function decodeName(raw: string): string {
  const spaced = raw.includes('+') ? raw.replaceAll('+', ' ') : raw
  if (!spaced.includes('%')) return spaced
  try {
    return decodeURIComponent(spaced)
  } catch {
    return spaced
  }
}

/**
 * A URL lameduck logs (the inspector relay's, an OTLP endpoint in an error) without its credentials: the
 * user name and password replaced, and credential-like query parameters as above (issue 19:
 * `LAMEDUCK_INSPECT_URL` was logged verbatim when the relay could not be reached).
 */
export function redactUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // Not a URL: whatever looks like `user:password@` before the host goes too.
    return redactQuerySecrets(url.replace(/\/\/[^/@\s]*@/, '//[redacted]@'))
  }
  if (parsed.username !== '' || parsed.password !== '') {
    parsed.username = 'redacted'
    parsed.password = ''
    return redactQuerySecrets(parsed.href.replace('//redacted@', '//[redacted]@'))
  }
  return redactQuerySecrets(url)
}
