import Testing

@testable import BreakwaterCore

@Suite("DeadlinePropagation: which deadline a call made while serving gets")
struct DeadlinePropagationRuleTests {
    let now = ContinuousClock.now

    @Test("the earlier of its own and the served call's, less the margin; off or outside a handler: its own")
    func rule() {
        let own = now.advanced(by: .seconds(10))
        let serving = now.advanced(by: .seconds(4))
        #expect(DeadlinePropagation.inherit.deadline(own: own, serving: serving) == serving)
        #expect(DeadlinePropagation.inherit.deadline(own: nil, serving: serving) == serving)
        #expect(DeadlinePropagation.inherit(margin: .seconds(1)).deadline(own: own, serving: serving) == now.advanced(by: .seconds(3)))
        #expect(DeadlinePropagation.inherit.deadline(own: now.advanced(by: .seconds(1)), serving: serving) == now.advanced(by: .seconds(1)))
        #expect(DeadlinePropagation.inherit.deadline(own: own, serving: nil) == own)
        #expect(DeadlinePropagation.inherit.deadline(own: nil, serving: nil) == nil)
        #expect(DeadlinePropagation.off.deadline(own: own, serving: serving) == own)
        #expect(DeadlinePropagation.off.deadline(own: nil, serving: serving) == nil)
        // A negative margin would lengthen the inherited deadline: it is taken as zero.
        #expect(DeadlinePropagation.inherit(margin: .seconds(-5)).deadline(own: nil, serving: serving) == serving)
    }

    @Test("the rule on stored instants, as the client applies it, gives the same deadlines")
    func storedRule() {
        let own = StoredInstant(now.advanced(by: .seconds(10)))
        let serving = StoredInstant(now.advanced(by: .seconds(4)))
        let propagations: [DeadlinePropagation] = [.inherit, .inherit(margin: .seconds(1)), .inherit(margin: .seconds(-5)), .off]
        for propagation in propagations {
            for (o, s) in [(own, serving), (nil, serving), (own, nil), (nil, nil), (StoredInstant(now.advanced(by: .seconds(1))), serving)] {
                let expected = propagation.deadline(own: o?.instant, serving: s?.instant)
                #expect(propagation.storedDeadline(own: o, serving: s)?.instant == expected)
            }
        }
        #expect(DeadlinePropagation.inherit(margin: .seconds(1)).storedDeadline(own: own, serving: serving) == StoredInstant(now.advanced(by: .seconds(3))))
    }

    @Test("the served deadline is task-local: set while a handler runs, absent elsewhere")
    func taskLocal() async {
        #expect(ServingCall.deadline == nil)
        let deadline = StoredInstant(now.advanced(by: .seconds(2)))
        await ServingCall.$deadline.withValue(deadline) {
            #expect(ServingCall.deadline == deadline)
            await Task { #expect(ServingCall.deadline == deadline) }.value  // child tasks inherit it
            await Task.detached { #expect(ServingCall.deadline == nil) }.value
        }
    }
}
