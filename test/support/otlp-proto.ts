import protobuf from 'protobufjs'

/**
 * The OTLP/HTTP request messages, for decoding `http/protobuf` exports in tests.
 *
 * No npm package ships the OTLP `.proto` files (the SDK encodes with a
 * hand-written writer and has no decoder), so the messages the tests need are
 * declared here with the field numbers of the OTLP specification
 * (opentelemetry-proto v1: common, resource, trace, metrics and the two
 * collector services). Fields the tests do not read are left out; protobuf
 * skips unknown fields. test/telemetry-otlp-decoding.test.ts checks this schema
 * against the SDK's own encoder, field by field, through the JSON encoding.
 */
const schema = `
syntax = "proto3";
package otlp;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  uint32 dropped_links_count = 14;
  Status status = 15;
  message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
}
message Status { string message = 2; int32 code = 3; }

message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric {
  string name = 1;
  string description = 2;
  string unit = 3;
  oneof data {
    Gauge gauge = 5;
    Sum sum = 7;
    Histogram histogram = 9;
  }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint {
  repeated KeyValue attributes = 7;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  oneof value {
    double as_double = 4;
    sfixed64 as_int = 6;
  }
  uint32 flags = 8;
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  fixed64 count = 4;
  optional double sum = 5;
  repeated fixed64 bucket_counts = 6;
  repeated double explicit_bounds = 7;
  uint32 flags = 10;
  optional double min = 11;
  optional double max = 12;
}
`

const root = protobuf.parse(schema).root

export const ExportTraceServiceRequest = root.lookupType('otlp.ExportTraceServiceRequest')
export const ExportMetricsServiceRequest = root.lookupType('otlp.ExportMetricsServiceRequest')

/** Decodes to the same shape the OTLP JSON encoding has (ids as hex, 64-bit numbers as strings). */
export function decodeOtlp(type: protobuf.Type, body: Uint8Array): unknown {
  const message = type.decode(body)
  const plain = type.toObject(message, { longs: String, bytes: Array, defaults: false, oneofs: false })
  return hexIds(plain)
}

const idFields = new Set(['traceId', 'spanId', 'parentSpanId'])

function hexIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hexIds)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) {
    out[key] = idFields.has(key) && Array.isArray(inner) ? Buffer.from(inner as number[]).toString('hex') : hexIds(inner)
  }
  return out
}
