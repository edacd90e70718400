import BreakwaterCore
import Synchronization
import Testing

@testable import BreakwaterObservability

@Suite("MethodTable: one value per method, made once, found lock-free when it was the last one")
struct MethodTableTests {
    @Test("alternating methods from concurrent tasks: each gets its own method's value, each made once")
    func alternatingMethods() async {
        let made = Atomic<Int>(0)
        let table = MethodTable<String> { method in
            made.wrappingAdd(1, ordering: .relaxed)
            return "\(method.service)/\(method.method)"
        }
        let methods = (0..<4).map { MethodDescriptor(service: "test.Service\($0)", method: "Method\($0)") }
        await withTaskGroup(of: Bool.self) { group in
            for task in 0..<4 {
                group.addTask {
                    var right = true
                    for call in 0..<2_000 {
                        let method = methods[(call + task) % methods.count]
                        right = right && table.value(for: method) == "\(method.service)/\(method.method)"
                    }
                    return right
                }
            }
            for await right in group { #expect(right) }
        }
        // A race may make a method's value twice; only one is kept and handed out.
        let count = made.load(ordering: .relaxed)
        #expect(count >= methods.count && count <= methods.count * 4)
        for method in methods {
            #expect(table.value(for: method) == "\(method.service)/\(method.method)")
        }
    }

    @Test("a descriptor equal to the last one, built anew, finds the same value; a different one does not")
    func equalDescriptors() {
        let table = MethodTable<Int> { $0.method.count }
        let long = String(repeating: "x", count: 40)  // not a small string: its own storage each time
        #expect(table.value(for: MethodDescriptor(service: "s", method: long)) == 40)
        #expect(table.value(for: MethodDescriptor(service: "s", method: String(repeating: "x", count: 40))) == 40)
        #expect(table.value(for: MethodDescriptor(service: "s", method: "abc")) == 3)
        #expect(table.value(for: MethodDescriptor(service: "s", method: long)) == 40)
    }
}
