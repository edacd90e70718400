@_spi(Locking) import BreakwaterCore
import Synchronization

/// Values made once per method and found again by every call (metric handlers, span names).
///
/// The entry found last is read without a lock: a client mostly calls the same few methods, and one
/// atomic load and a comparison of two descriptors (their strings small, or sharing storage) cost less
/// than a lock and a hash. Other methods are looked up in a dictionary under a `TSanMutex`, which also
/// keeps every entry alive for the table's life, so `last` may hold one unretained.
final class MethodTable<Value: Sendable>: Sendable {
    /// One method's value, immutable once made.
    private final class Entry: Sendable {
        let method: MethodDescriptor
        let value: Value

        init(method: MethodDescriptor, value: Value) {
            self.method = method
            self.value = value
        }
    }

    private let all = TSanMutex<[MethodDescriptor: Entry]>([:])
    /// The entry found last, as the bits of an unretained pointer (0: none yet). Stored with release
    /// ordering after the entry is in `all`, loaded with acquire ordering, so its fields are seen whole.
    private let last = Atomic<UInt>(0)
    private let make: @Sendable (MethodDescriptor) -> Value

    /// - Parameter make: Makes a method's value, the first time the method is seen.
    init(make: @escaping @Sendable (MethodDescriptor) -> Value) {
        self.make = make
    }

    func value(for method: MethodDescriptor) -> Value {
        if let pointer = UnsafeRawPointer(bitPattern: last.load(ordering: .acquiring)) {
            // Used without taking a reference: the entry lives as long as the table, and retaining it
            // on every call made its count a cache line the caller threads fought over.
            let found = Unmanaged<Entry>.fromOpaque(pointer)._withUnsafeGuaranteedRef { entry in
                entry.method == method ? entry.value : nil
            }
            if let found { return found }
        }
        let entry: Entry
        if let found = all.withLock({ $0[method] }) {
            entry = found
        } else {
            // Made outside the lock: making metric handlers calls the metrics factory.
            let made = Entry(method: method, value: make(method))
            entry = all.withLock { all in
                if let raced = all[method] { return raced }
                all[method] = made
                return made
            }
        }
        last.store(UInt(bitPattern: Unmanaged.passUnretained(entry).toOpaque()), ordering: .releasing)
        return entry.value
    }
}
