extension CallOptions {
    /// A key of a typed value carried in ``CallOptions/extensions``, as grpc-java's `CallOptions.Key`: a
    /// module that Core does not know (the resilience chain, an interceptor of your own) declares a key
    /// and reads its value from the options of every call.
    ///
    /// ```swift
    /// enum TenantKey: CallOptions.ExtensionKey { typealias Value = String }
    /// var options = CallOptions()
    /// options.extensions[TenantKey.self] = "blue"
    /// ```
    ///
    /// The key is the type itself: two keys never collide, whatever their names.
    public protocol ExtensionKey: Sendable {
        /// The type of the value stored under the key.
        associatedtype Value: Sendable & Hashable
    }

    /// Typed values that modules outside Core attach to a call's options, keyed by an
    /// ``ExtensionKey`` type.
    ///
    /// Empty by default, and an empty one costs nothing: no storage is allocated until a value is set.
    /// Two extension sets are equal when they hold equal values under the same keys.
    public struct Extensions: Sendable, Hashable {
        /// The values by key type; `[:]` needs no allocation.
        @usableFromInline var values: [ObjectIdentifier: Entry]

        /// One value with what it takes to compare it: its dynamic type is the key's `Value`.
        @usableFromInline struct Entry: Sendable, Hashable {
            let value: any Sendable & Hashable

            @usableFromInline static func == (lhs: Entry, rhs: Entry) -> Bool {
                func equals<V: Hashable>(_ l: V) -> Bool { (rhs.value as? V) == l }
                return equals(lhs.value)
            }

            @usableFromInline func hash(into hasher: inout Hasher) {
                hasher.combine(value)
            }
        }

        /// No values.
        public init() {
            values = [:]
        }

        /// Whether no value is set; the check the hot path makes before looking anything up.
        @inlinable public var isEmpty: Bool { values.isEmpty }

        /// The value stored under `key`; `nil` when none is. Setting `nil` removes it.
        public subscript<Key: ExtensionKey>(key: Key.Type) -> Key.Value? {
            get {
                guard !values.isEmpty else { return nil }
                return values[ObjectIdentifier(key)]?.value as? Key.Value
            }
            set {
                if let newValue {
                    values[ObjectIdentifier(key)] = Entry(value: newValue)
                } else if !values.isEmpty {
                    values[ObjectIdentifier(key)] = nil
                }
            }
        }

        /// These values over `defaults`: a key set here keeps its value here, a key set only in
        /// `defaults` takes the value there. Values are not merged inside: a key's value is replaced
        /// whole.
        /// - Parameter defaults: The values that apply where these set none (a client's default
        ///   options).
        public func merged(over defaults: Extensions) -> Extensions {
            if defaults.values.isEmpty { return self }
            if values.isEmpty { return defaults }
            var merged = self
            merged.values.merge(defaults.values) { own, _ in own }
            return merged
        }

        /// Whether both hold equal values under the same keys.
        public static func == (lhs: Extensions, rhs: Extensions) -> Bool {
            lhs.values == rhs.values
        }

        /// Hashes the keys and values, in no particular order.
        public func hash(into hasher: inout Hasher) {
            // Order-independent, as a dictionary's own hash: entries are combined commutatively.
            var combined = 0
            for (key, entry) in values {
                var entryHasher = Hasher()
                entryHasher.combine(key)
                entryHasher.combine(entry)
                combined ^= entryHasher.finalize()
            }
            hasher.combine(values.count)
            hasher.combine(combined)
        }
    }
}
