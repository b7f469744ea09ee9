/**
 * The stable HTTP semantic-convention attribute names lameduck's request span uses
 * (https://opentelemetry.io/docs/specs/semconv/http/http-spans/). Spelled out here rather than
 * imported: `@opentelemetry/semantic-conventions` is about 10 MB installed, as much as everything
 * else lameduck adds to an app (issue 12). A test compares each name with the package's constant.
 */
export const httpAttributes = {
  errorType: 'error.type',
  requestMethod: 'http.request.method',
  requestMethodOriginal: 'http.request.method_original',
  responseStatusCode: 'http.response.status_code',
  route: 'http.route',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  urlPath: 'url.path',
  urlScheme: 'url.scheme',
} as const
