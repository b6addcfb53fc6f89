"""The project's GP-L and GP-VL prompt templates and the feedback turn of the verification loop.

Template variables (usable in a `--prompt-template` file):
- `{target_points}`: the target number, e.g. 24;
- `{face_card_rule}`: the rule sentence, e.g. "'J', 'Q', and 'K' count as '10'";
- `{cards}`: the hand as text, e.g. "['A', '3', 'K', '6']" (GP-L; in GP-VL the cards are in the image and
  the default template does not use it).
"""

from __future__ import annotations

from typing import Any, Mapping

from envs.general_points.cards import face_card_rule_text
from envs.prompt_templates import feedback_message, fill_template

TEMPLATE_VARIABLES = ("target_points", "face_card_rule", "cards")

_TASK = """[Task Description]
You are an expert {target_points} points card game player. You are given four cards.
Note that {face_card_rule}, and each card must be used once.
Your goal is to write a formula that evaluates to {target_points} using the numbers on the cards and the operators '+', '-', '*', '/', '(', ')' and '='.
"""

_OUTPUT = """
[Output]
Your response should be a valid json file in the following format:
{
  "cards": [x, y, z, w], where {face_card_rule},
  "number": [a, b, c, d], where a, b, c and d are the numbers on the cards,
  "formula": "an equation that equals {target_points}"
}"""

GP_L_TEMPLATE = _TASK + "\n[Input]\nCards: {cards}\n" + _OUTPUT
GP_VL_TEMPLATE = _TASK + "\n[Input]\nThe image shows the four cards.\n" + _OUTPUT

def default_template(language_only: bool) -> str:
    return GP_L_TEMPLATE if language_only else GP_VL_TEMPLATE


def prompt_values(info: Mapping[str, Any], treat_face_cards_as_10: bool, target_points: int) -> dict[str, str]:
    """The template variables for one hand, from the environment's `info`."""
    cards = "[" + ", ".join(f"'{c}'" for c in info["Plain Cards"]) + "]"
    return {
        "target_points": str(target_points),
        "face_card_rule": face_card_rule_text(treat_face_cards_as_10),
        "cards": cards,
    }


def build_prompt(template: str, info: Mapping[str, Any], treat_face_cards_as_10: bool, target_points: int) -> str:
    return fill_template(template, prompt_values(info, treat_face_cards_as_10, target_points))


class GeneralPointsPrompter:
    """`Prompter` for GeneralPoints: the task prompt (with the table image in GP-VL) and the feedback turn."""

    def __init__(self, treat_face_cards_as_10: bool, target_points: int, language_only: bool, template: str | None = None):
        self.treat_face_cards_as_10 = treat_face_cards_as_10
        self.target_points = target_points
        self.language_only = language_only
        self.template = template or default_template(language_only)

    def prompt(self, observation, info):
        from envs.conversation import Turn

        text = build_prompt(self.template, info, self.treat_face_cards_as_10, self.target_points)
        return Turn("user", text, None if self.language_only else observation)

    def feedback(self, info):
        from envs.conversation import Turn

        return Turn("user", feedback_message(info["Verify Info"]))


def prompter_for(kwargs: Any, template: str | None = None) -> GeneralPointsPrompter:
    """The prompter of a GeneralPoints env_config (its typed keyword arguments)."""
    return GeneralPointsPrompter(kwargs.treat_face_cards_as_10, kwargs.target_points, kwargs.language_only, template)
