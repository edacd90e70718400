/// Formats a duration as seconds with one decimal, rounded up so that a positive wait never
/// reads as zero: `12.3 s`.
func formatSeconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    guard seconds >= 0, attoseconds >= 0 else { return "0.0 s" }
    let tenthInAttoseconds: Int64 = 100_000_000_000_000_000
    var tenths = seconds * 10 + attoseconds / tenthInAttoseconds
    if attoseconds % tenthInAttoseconds != 0 { tenths += 1 }
    return "\(tenths / 10).\(tenths % 10) s"
}
