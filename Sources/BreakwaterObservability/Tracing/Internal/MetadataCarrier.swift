import BreakwaterCore
import Tracing

/// Writes a tracer's propagation fields (W3C `traceparent` and `tracestate` for an OpenTelemetry
/// tracer) into request metadata, each key replacing what was there.
struct MetadataInjector: Injector {
    func inject(_ value: String, forKey key: String, into metadata: inout Metadata) {
        metadata.replaceOrAddString(value, forKey: key)
    }
}

/// Reads a tracer's propagation fields from request metadata.
struct MetadataExtractor: Extractor {
    func extract(key: String, from metadata: Metadata) -> String? {
        metadata.firstString(forKey: key)
    }
}
