/// `duration` in whole tenths of a second, rounded up (so a positive wait never reads as zero);
/// 0 for a negative duration.
func tenthsOfSecondRoundedUp(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    guard seconds >= 0, attoseconds >= 0 else { return 0 }
    let tenthInAttoseconds: Int64 = 100_000_000_000_000_000
    var tenths = seconds * 10 + attoseconds / tenthInAttoseconds
    if attoseconds % tenthInAttoseconds != 0 { tenths += 1 }
    return tenths
}

/// `duration` as seconds with one decimal, rounded up: `4.2 s`.
func formatSeconds(_ duration: Duration) -> String {
    let tenths = tenthsOfSecondRoundedUp(duration)
    return "\(tenths / 10).\(tenths % 10) s"
}
