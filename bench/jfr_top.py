"""Top of a Java Flight Recording: the share of CPU samples per frame, where a sample counts
once for each distinct frame on its stack (inclusive) and once for its top frame (self).

    python -m bench.jfr_top FILE [--top N] [--match REGEX]
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter

FRAME = re.compile(r"^\s+([\w$.<>]+)\(.*\)\s+line:")


def samples(recording: str) -> list[list[str]]:
    """The stacks (top frame first) of the recording's execution samples."""
    text = subprocess.run(
        ["jfr", "print", "--events", "jdk.ExecutionSample", "--stack-depth", "96", recording],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stacks, current = [], None
    for line in text.splitlines():
        if line.startswith("jdk.ExecutionSample"):
            current = []
            stacks.append(current)
        elif current is not None and (match := FRAME.match(line)):
            current.append(match.group(1))
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("recording")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default=".", help="only frames matching this regex")
    args = parser.parse_args()
    stacks = samples(args.recording)
    pattern = re.compile(args.match)
    inclusive: Counter = Counter()
    own: Counter = Counter()
    for stack in stacks:
        inclusive.update({frame for frame in stack if pattern.search(frame)})
        if stack:
            own[stack[0]] += 1
    print(f"{len(stacks)} samples")
    print("inclusive:")
    for frame, n in inclusive.most_common(args.top):
        print(f"  {100 * n / len(stacks):5.1f} %  {frame}")
    print("self:")
    for frame, n in own.most_common(args.top):
        print(f"  {100 * n / len(stacks):5.1f} %  {frame}")


if __name__ == "__main__":
    main()
