#!/usr/bin/env python3
"""Runs breakwater-observability binaries (an old and a new build, say) in alternation and prints the
median of each `direct.*over*` figure per binary, so that both see the same machine load.

    Benchmarks/observability-ab.py REPS OLD-BINARY NEW-BINARY [MORE-BINARIES...]

Each run is `BINARY 20000 5 direct`; the order of the binaries is reversed every other repetition.
"""
import collections
import statistics
import subprocess
import sys


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    reps, binaries = int(sys.argv[1]), sys.argv[2:]
    values = {binary: collections.defaultdict(list) for binary in binaries}
    for rep in range(reps):
        for binary in binaries if rep % 2 == 0 else list(reversed(binaries)):
            output = subprocess.run([binary, "20000", "5", "direct"], capture_output=True, text=True, check=True).stdout
            for line in output.splitlines():
                key, _, value = line.partition("=")
                if key.startswith("direct.") and "over" in key:
                    values[binary][key[len("direct."):]].append(int(value))
    keys = list(values[binaries[0]])
    print("figure (median of %d)".ljust(36) % reps + "".join(binary.rsplit("/", 1)[-1].rjust(16) for binary in binaries))
    for key in keys:
        print(key.ljust(36) + "".join(str(int(statistics.median(values[b][key]))).rjust(16) for b in binaries))


if __name__ == "__main__":
    main()
