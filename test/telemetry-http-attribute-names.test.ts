import * as semconv from '@opentelemetry/semantic-conventions'
import { describe, expect, it } from 'vitest'
import { httpAttributes } from '../src/telemetry/http-attribute-names.ts'

describe('the HTTP attribute names lameduck spells out', () => {
  it('are the stable semantic-convention names, letter for letter', () => {
    expect(httpAttributes).toEqual({
      errorType: semconv.ATTR_ERROR_TYPE,
      requestMethod: semconv.ATTR_HTTP_REQUEST_METHOD,
      requestMethodOriginal: semconv.ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
      responseStatusCode: semconv.ATTR_HTTP_RESPONSE_STATUS_CODE,
      route: semconv.ATTR_HTTP_ROUTE,
      serverAddress: semconv.ATTR_SERVER_ADDRESS,
      serverPort: semconv.ATTR_SERVER_PORT,
      urlPath: semconv.ATTR_URL_PATH,
      urlScheme: semconv.ATTR_URL_SCHEME,
    })
  })
})
