"""Episode success rate of the current policy from the steps of one rollout window, free of the window's bias.

The episodes that end inside a window of a few rounds are not a fair sample of the policy's episodes: in the
first update every environment starts together, so only short ones (in GeneralPoints, solved ones) can end
in it. Every step taken in the window is a fair sample, though, of what the policy does at that depth of an
episode. So for each depth k (steps already taken in the episode) the window gives n_k steps, of which s_k
ended the episode in success and e_k ended it at all, and the success rate is the Aalen-Johansen estimate
(Kaplan-Meier with competing endings):

    success = sum_k S_{k-1} * s_k / n_k,   S_k = S_{k-1} * (1 - e_k / n_k),   S_{-1} = 1.

It is undefined (None) when episodes still running at some depth have no step at that depth in the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StepsByDepth:
    steps: list[int] = field(default_factory=list)
    endings: list[int] = field(default_factory=list)
    successes: list[int] = field(default_factory=list)

    def _add(self, depth: int, steps: int, endings: int, successes: int) -> None:
        while len(self.steps) <= depth:
            self.steps.append(0)
            self.endings.append(0)
            self.successes.append(0)
        self.steps[depth] += steps
        self.endings[depth] += endings
        self.successes[depth] += successes

    def record(self, depth: int, ended: bool, succeeded: bool) -> None:
        self._add(depth, 1, int(ended), int(succeeded))

    def merge(self, other: "StepsByDepth") -> None:
        for depth, counts in enumerate(zip(*other.as_lists())):
            self._add(depth, *counts)

    def as_lists(self) -> list[list[int]]:
        return [self.steps, self.endings, self.successes]

    @classmethod
    def from_lists(cls, lists: list[list[int]]) -> "StepsByDepth":
        steps, endings, successes = lists
        return cls(list(steps), list(endings), list(successes))

    def success_rate(self) -> float | None:
        running, success = 1.0, 0.0
        for steps, endings, successes in zip(self.steps, self.endings, self.successes):
            if running == 0.0:
                break
            if steps == 0:
                return None
            success += running * successes / steps
            running *= 1 - endings / steps
        return success if running == 0.0 else None
