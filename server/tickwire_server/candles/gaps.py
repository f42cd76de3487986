"""Gaps: which parts of a range a coverage record does not hold yet."""

from __future__ import annotations

from collections.abc import Iterable


def uncovered(start: int, end: int, covered: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [start, end) outside every [a, b) of `covered`, in order.

    `covered` may overlap itself and come in any order.
    """
    out: list[tuple[int, int]] = []
    at = start
    for a, b in sorted(covered):
        if b <= at:
            continue
        if a >= end:
            break
        if a > at:
            out.append((at, a))
        at = max(at, b)
        if at >= end:
            break
    if at < end:
        out.append((at, end))
    return out


def merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`ranges` with overlapping and touching ones joined, in order."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
