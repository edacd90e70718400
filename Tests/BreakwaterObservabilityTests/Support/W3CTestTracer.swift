import InMemoryTracing


import Tracing

/// An in-memory tracer that propagates as OpenTelemetry's W3C propagator does: `traceparent`
/// (`00-<32 hex trace id>-<16 hex span id>-01`) and `tracestate`, so tests see the real header names
/// cross the wire. Spans are kept by swift-distributed-tracing's `InMemoryTracer`.
struct W3CTestTracer: Tracer {
    let spans = InMemoryTracer(idGenerator: .hex)

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> InMemorySpan {
        spans.startSpan(
            operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let span = context.inMemorySpanContext else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: "traceparent", into: &carrier)
        if let state = context.traceState {
            injector.inject(state, forKey: "tracestate", into: &carrier)
        }
    }

    func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier) else { return }
        let fields = header.split(separator: "-")
        guard fields.count == 4, fields[1].count == 32, fields[2].count == 16 else { return }
        context.inMemorySpanContext = InMemorySpanContext(
            traceID: String(fields[1]), spanID: String(fields[2]), parentSpanID: nil)
        context.traceState = extractor.extract(key: "tracestate", from: carrier)
    }
}

private enum TraceStateKey: ServiceContextKey {
    typealias Value = String
}

extension ServiceContext {
    /// The W3C `tracestate` carried along the trace.
    var traceState: String? {
        get { self[TraceStateKey.self] }
        set { self[TraceStateKey.self] = newValue }
    }
}

extension InMemoryTracer.IDGenerator {
    /// Random ids of W3C's widths: 32 hex digits for a trace, 16 for a span.
    static var hex: Self {
        Self(
            nextTraceID: { hexDigits(UInt64.random(in: 1...UInt64.max)) + hexDigits(UInt64.random(in: 0...UInt64.max)) },
            nextSpanID: { hexDigits(UInt64.random(in: 1...UInt64.max)) })
    }
}

private func hexDigits(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
