import BreakwaterTestSupport

extension FaultProxy {
    /// Frames of `kind` that went by in `direction`, dropped or not.
    func frames(_ kind: RawFrames.Kind, _ direction: Direction) -> Int {
        frames(type: kind.rawValue, direction)
    }
}
