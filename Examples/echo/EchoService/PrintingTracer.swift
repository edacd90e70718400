@_spi(Locking) import BreakwaterCore
import Tracing

import Foundation

/// A tracer for the echo examples' `--print-spans`: prints each span when it ends, one line on
/// standard error, and propagates as W3C trace context (`traceparent`, `tracestate`), so that an
/// `echo-client` and an `echo-server` print the same trace id for one call.
///
/// For trying things out only; a service exports its spans with a real tracer (swift-otel).
public struct PrintingTracer: Tracer {
    /// Where lines go; standard error by default.
    private let print: @Sendable (String) -> Void

    /// Creates a tracer that prints with `print` (standard error by default).
    public init(print: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.print = print
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> PrintedSpan {
        var context = context()
        let parent = context.printedSpanIDs
        let ids = PrintedSpanIDs(
            traceID: parent?.traceID ?? Self.hex(UInt64.random(in: 1...UInt64.max)) + Self.hex(UInt64.random(in: 0...UInt64.max)),
            spanID: Self.hex(UInt64.random(in: 1...UInt64.max)),
            parentSpanID: parent?.spanID)
        context.printedSpanIDs = ids
        return PrintedSpan(
            operationName: operationName, kind: kind, context: context, ids: ids,
            startNanoseconds: instant().nanosecondsSinceEpoch, print: print)
    }

    public func forceFlush() {}

    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let ids = context.printedSpanIDs else { return }
        injector.inject("00-\(ids.traceID)-\(ids.spanID)-01", forKey: "traceparent", into: &carrier)
        if let state = context.printedTraceState { injector.inject(state, forKey: "tracestate", into: &carrier) }
    }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier) else { return }
        let fields = header.split(separator: "-")
        guard fields.count == 4, fields[1].count == 32, fields[2].count == 16 else { return }
        context.printedSpanIDs = PrintedSpanIDs(traceID: String(fields[1]), spanID: String(fields[2]), parentSpanID: nil)
        context.printedTraceState = extractor.extract(key: "tracestate", from: carrier)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// A span of ``PrintingTracer``: kept under a `TSanMutex` until it ends, then printed.
public final class PrintedSpan: Span {
    private struct State {
        var operationName: String
        var attributes: SpanAttributes = [:]
        var events: [String] = []
        var status: SpanStatus?
        var ended = false
    }

    public let context: ServiceContext
    private let kind: SpanKind
    private let ids: PrintedSpanIDs
    private let startNanoseconds: UInt64
    private let print: @Sendable (String) -> Void
    private let state: TSanMutex<State>

    init(
        operationName: String, kind: SpanKind, context: ServiceContext, ids: PrintedSpanIDs, startNanoseconds: UInt64,
        print: @escaping @Sendable (String) -> Void
    ) {
        self.context = context
        self.kind = kind
        self.ids = ids
        self.startNanoseconds = startNanoseconds
        self.print = print
        state = TSanMutex(State(operationName: operationName))
    }

    public var operationName: String {
        get { state.withLock { $0.operationName } }
        set { state.withLock { $0.operationName = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    public var isRecording: Bool { state.withLock { !$0.ended } }

    public func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }

    public func addEvent(_ event: SpanEvent) {
        var text = event.name
        var details: [String] = []
        event.attributes.forEach { key, value in details.append("\(key)=\(Self.text(value))") }
        if !details.isEmpty { text += "(" + details.sorted().joined(separator: " ") + ")" }
        state.withLock { $0.events.append(text) }
    }

    public func recordError<Instant: TracerInstant>(
        _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {
        state.withLock { $0.events.append("error(\(error))") }
    }

    public func addLink(_ link: SpanLink) {}

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let endNanoseconds = instant().nanosecondsSinceEpoch
        guard let ended = state.withLock({ s -> State? in
            guard !s.ended else { return nil }
            s.ended = true
            return s
        }) else { return }
        var attributes: [String] = []
        ended.attributes.forEach { key, value in attributes.append("\(key)=\(Self.text(value))") }
        let micros = Double(endNanoseconds &- startNanoseconds) / 1000
        let status = ended.status.map { "ERROR \($0.message ?? "")" } ?? "OK"
        print(
            "span \(ended.operationName) kind=\(kind) trace=\(ids.traceID) span=\(ids.spanID) parent=\(ids.parentSpanID ?? "-")"
                + " duration_us=\(Int(micros)) status=\(status) attributes=[\(attributes.sorted().joined(separator: " "))]"
                + " events=[\(ended.events.joined(separator: ", "))]")
    }
}

extension PrintedSpan {
    /// An attribute's value as plain text: `14`, `Get`, `28.5`.
    static func text(_ value: SpanAttribute) -> String {
        switch value {
        case .int32(let v): "\(v)"
        case .int64(let v): "\(v)"
        case .double(let v): "\((v * 1000).rounded() / 1000)"
        case .bool(let v): "\(v)"
        case .string(let v): v.contains(" ") ? "\"\(v)\"" : v
        case .stringConvertible(let v): "\(v)"
        default: "\(value)"
        }
    }
}

/// The ids ``PrintingTracer`` keeps in a `ServiceContext`.
struct PrintedSpanIDs: Sendable {
    var traceID: String
    var spanID: String
    var parentSpanID: String?
}

private enum PrintedSpanIDsKey: ServiceContextKey {
    typealias Value = PrintedSpanIDs
}

private enum PrintedTraceStateKey: ServiceContextKey {
    typealias Value = String
}

extension ServiceContext {
    var printedSpanIDs: PrintedSpanIDs? {
        get { self[PrintedSpanIDsKey.self] }
        set { self[PrintedSpanIDsKey.self] = newValue }
    }

    var printedTraceState: String? {
        get { self[PrintedTraceStateKey.self] }
        set { self[PrintedTraceStateKey.self] = newValue }
    }
}
