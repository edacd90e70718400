#!/usr/bin/env python3
"""Draws a breaker demo run (echo-client --count N --config ... output) as a timeline.

Usage: plot-breaker-timeline.py CALLS.txt OUT.png

Reads the lines echo-client prints for a run of several calls:
    [  0.040 s] call 1/20 UNAVAILABLE: Injected failure ... (37.3 ms, 3 attempts)
    [  0.241 s] call 2/20 UNAVAILABLE: circuit breaker 'echo.Echo/Get' is OPEN; ... (375 us, not sent)
    [  1.847 s] breaker echo.Echo/Get: OPEN -> HALF_OPEN (open duration elapsed)
and draws each call's latency (log scale) at the time it ended, marked by its outcome (OK, failed,
rejected by the breaker without being sent, answered by a fallback), over bands of the breaker's state.
"""
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

CALL = re.compile(r"^\[\s*([\d.]+) s\] call (\d+)/\d+ (.*)\(([\d.]+) (us|ms|s)(?:, ([^)]*))?\)(?::.*)?$")
BREAKER = re.compile(r"^\[\s*([\d.]+) s\] breaker (\S+): (\S+) -> (\S+) \((.*)\)$")
UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
STATE_COLOURS = {
    "CLOSED": "#d8f0d8",
    "OPEN": "#f6d0d0",
    "HALF_OPEN": "#fbeab8",
    "FORCED_OPEN": "#e8c0e8",
    "DISABLED": "#e0e0e0",
}
OUTCOMES = {
    "ok": ("OK", "#2a8a2a", "o"),
    "fallback": ("OK from the fallback", "#2a6fb0", "s"),
    "failed": ("failed (sent)", "#c03030", "X"),
    "rejected": ("rejected by the breaker (not sent)", "#e08a00", "v"),
}


def outcome(text, detail):
    if text.startswith("OK from the fallback"):
        return "fallback"
    if text.startswith("OK"):
        return "ok"
    if detail and "not sent" in detail:
        return "rejected"
    return "failed"


def parse(path):
    calls, transitions = [], []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            match = CALL.match(line)
            if match:
                at, number, text, value, unit, detail = match.groups()
                calls.append((float(at), int(number), float(value) * UNIT[unit], outcome(text, detail)))
                continue
            match = BREAKER.match(line)
            if match:
                at, _, old, new, _ = match.groups()
                transitions.append((float(at), old, new))
    return calls, transitions


def bands(transitions, end):
    """(start, stop, state) spans; the breaker starts CLOSED."""
    spans, state, since = [], "CLOSED", 0.0
    for at, old, new in transitions:
        if at > since:
            spans.append((since, at, state))
        state, since = new, at
    spans.append((since, end, state))
    return spans


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    calls, transitions = parse(sys.argv[1])
    if not calls:
        sys.exit(f"plot-breaker-timeline: no call lines in {sys.argv[1]}")
    end = max(at for at, *_ in calls) + 0.2
    figure, axes = plt.subplots(figsize=(11, 4.8), dpi=110)
    seen_states = []
    for start, stop, state in bands(transitions, end):
        axes.axvspan(start, stop, color=STATE_COLOURS.get(state, "#eeeeee"), zorder=0, linewidth=0)
        if state not in seen_states:
            seen_states.append(state)
    for key, (label, colour, marker) in OUTCOMES.items():
        points = [(at, latency) for at, _, latency, kind in calls if kind == key]
        if points:
            axes.scatter(
                [p[0] for p in points], [p[1] * 1e3 for p in points], label=label, color=colour, marker=marker,
                s=46, zorder=3, edgecolors="black", linewidths=0.4)
    axes.set_yscale("log")
    axes.set_xlim(0, end)
    axes.set_xlabel("time since the first call (s)")
    axes.set_ylabel("call latency (ms, log scale)")
    ok = sum(1 for c in calls if c[3] in ("ok", "fallback"))
    rejected = sum(1 for c in calls if c[3] == "rejected")
    axes.set_title(f"Circuit breaker at work: {len(calls)} calls, {ok} OK, {rejected} rejected without being sent")
    axes.grid(True, which="major", axis="y", alpha=0.3)
    # Below the plot, so that no legend hides a call.
    calls_handles, _ = axes.get_legend_handles_labels()
    states = [Patch(color=STATE_COLOURS.get(s, "#eeeeee"), label=f"breaker {s}") for s in seen_states]
    handles = calls_handles + states
    figure.legend(handles=handles, loc="lower center", fontsize=8, ncol=min(len(handles), 4), frameon=False)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    figure.savefig(sys.argv[2])
    print(f"plot-breaker-timeline: wrote {sys.argv[2]} ({len(calls)} calls, {len(transitions)} breaker transitions)")


if __name__ == "__main__":
    main()
