"""Rules for Hugging Face TRL datasets (reference/providers.md §3: dataset_formats.md, data_utils.py,
the SFT, DPO and KTO trainers; S18 to S21).

TRL reads whatever the chat template accepts, so unknown roles are warnings; what breaks a trainer
(no recognised key set, a prompt ending on an unknown role, a mixed file) is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline.findings import ERROR, WARNING, pointer, shown
from pipeline.profiles.rules.common import FormatTracker, Issue, role_of

KNOWN_ROLES = ("system", "user", "assistant", "tool", "developer")
PROMPT_LAST_ROLES = ("user", "tool", "assistant")


def _is_conv(value: Any) -> bool:
    return isinstance(value, list)


def _style(value: Any) -> str:
    return "conversational" if _is_conv(value) else "standard"


def sft_format(obj: dict) -> str | None:
    if "messages" in obj:
        return "conversational language modeling"
    if "prompt" in obj and "completion" in obj and "label" not in obj:
        return f"{_style(obj['prompt'])} prompt-completion"
    if "text" in obj:
        return "standard language modeling"
    return None


def dpo_format(obj: dict) -> str | None:
    if "chosen" not in obj or "rejected" not in obj:
        return None
    kind = "explicit" if "prompt" in obj else "implicit"
    return f"{_style(obj['chosen'])} {kind} preference"


def kto_format(obj: dict) -> str | None:
    if "label" in obj and "prompt" in obj and "completion" in obj:
        return f"{_style(obj['completion'])} unpaired preference"
    if "chosen" in obj and "rejected" in obj:
        return dpo_format(obj)
    return None


def _messages(value: Any, key: str) -> Iterator[Issue]:
    if not isinstance(value, list):
        return
    for i, m in enumerate(value):
        role = role_of(m)
        if role is not None and role not in KNOWN_ROLES:
            yield (
                pointer(key, i, "role"),
                "trl.role.unknown",
                WARNING,
                f"role {shown(role)} is not one most chat templates know "
                f"({', '.join(KNOWN_ROLES)}): check that your template renders it",
            )
        if isinstance(m, dict) and "from" in m and "role" not in m:
            yield (
                pointer(key, i),
                "trl.message.sharegpt",
                WARNING,
                "ShareGPT {from, value} turns are converted by TRL but their role names "
                "(human, gpt) are not: use {role, content} with user/assistant",
            )


def _prompt_last_role(prompt: Any) -> Iterator[Issue]:
    if isinstance(prompt, list) and prompt:
        role = role_of(prompt[-1])
        if role is not None and role not in PROMPT_LAST_ROLES:
            yield (
                pointer("prompt", len(prompt) - 1, "role"),
                "trl.prompt.last_role",
                ERROR,
                f"invalid role in the last message of the prompt: {role!r}; "
                "the prompt must end with a user, tool or assistant message",
            )


def _same_style(obj: dict, keys: tuple[str, ...]) -> Iterator[Issue]:
    present = [k for k in keys if k in obj]
    styles = {_style(obj[k]) for k in present}
    if len(styles) > 1:
        yield (
            "",
            "trl.style.mixed",
            ERROR,
            f"{', '.join(present)} mix strings and message lists: make them all strings "
            "(standard) or all lists of messages (conversational)",
        )


def _empty(obj: dict, keys: tuple[str, ...]) -> Iterator[Issue]:
    for key in keys:
        value = obj.get(key)
        if (isinstance(value, str) and not value.strip()) or value == []:
            yield (
                pointer(key),
                "trl.field.empty",
                ERROR,
                f"{key} is empty: fill it or drop the row",
            )


def check_sft(obj: dict) -> Iterator[Issue]:
    fmt = sft_format(obj)
    if fmt is None:
        yield (
            "",
            "trl.format.unknown",
            ERROR,
            f"no SFT dataset columns among {', '.join(map(repr, obj)) or 'none'}: "
            "use text, messages, or prompt and completion",
        )
        return
    if fmt.endswith("prompt-completion"):
        yield from _same_style(obj, ("prompt", "completion"))
        yield from _prompt_last_role(obj["prompt"])
        yield from _messages(obj["prompt"], "prompt")
        yield from _messages(obj["completion"], "completion")
        yield from _empty(obj, ("completion",))
    elif fmt.startswith("conversational"):
        yield from _messages(obj["messages"], "messages")
        messages = obj["messages"]
        if (
            isinstance(messages, list)
            and messages
            and not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages)
        ):
            yield (
                pointer("messages"),
                "trl.assistant.missing",
                WARNING,
                "no assistant message: with assistant_only_loss=True this example trains nothing",
            )
    else:
        yield from _empty(obj, ("text",))


def check_dpo(obj: dict) -> Iterator[Issue]:
    if dpo_format(obj) is None:
        return  # the schema reports the missing chosen/rejected
    yield from _check_pair(obj)


def _check_pair(obj: dict) -> Iterator[Issue]:
    yield from _same_style(obj, ("prompt", "chosen", "rejected"))
    yield from _prompt_last_role(obj.get("prompt"))
    for key in ("prompt", "chosen", "rejected"):
        yield from _messages(obj.get(key), key)
    yield from _empty(obj, ("chosen", "rejected"))
    if obj["chosen"] == obj["rejected"]:
        yield (
            pointer("rejected"),
            "trl.preference.identical",
            WARNING,
            "chosen and rejected are identical, so the pair teaches nothing",
        )
    elif "prompt" not in obj and not _common_prefix(obj["chosen"], obj["rejected"]):
        yield (
            "",
            "trl.preference.no_common_prompt",
            WARNING,
            "implicit preference: chosen and rejected share no prompt, so the extracted prompt is "
            "empty; add an explicit prompt column",
        )


def _common_prefix(a: Any, b: Any) -> bool:
    """Whether chosen and rejected start alike; True for other types than strings and lists (an
    object, a number: the schema reports them, and they have no first item to compare)."""
    if not isinstance(a, (str, list)) or not isinstance(b, (str, list)):
        return True
    return bool(a) and bool(b) and type(a) is type(b) and a[0] == b[0]


def check_kto(obj: dict) -> Iterator[Issue]:
    if "chosen" in obj and "rejected" in obj:
        yield from _check_pair(obj)  # paired preference: the trainer unpairs it
        return
    if not ("prompt" in obj and "completion" in obj and "label" in obj):
        hint = (
            "split messages into prompt (all but the last message) and completion (the last, "
            "assistant message)"
            if "messages" in obj
            else "add the missing columns"
        )
        missing = [k for k in ("prompt", "completion", "label") if k not in obj]
        yield (
            "",
            "trl.kto.shape",
            ERROR,
            f"KTO reads prompt, completion and label; this row lacks {', '.join(missing)}: {hint}",
        )
        return
    yield from _same_style(obj, ("prompt", "completion"))
    yield from _prompt_last_role(obj["prompt"])
    yield from _messages(obj["prompt"], "prompt")
    yield from _messages(obj["completion"], "completion")
    yield from _empty(obj, ("completion",))


def sft_file_rules() -> FormatTracker:
    return FormatTracker("trl.format.mixed", sft_format, "format")


def dpo_file_rules() -> FormatTracker:
    return FormatTracker("trl.format.mixed", dpo_format, "format")


class KtoFileRules(FormatTracker):
    """One format per file, and both labels present ("the dataset should contain at least one
    chosen and one rejected completion", S21)."""

    def __init__(self) -> None:
        super().__init__("trl.format.mixed", kto_format, "format")
        self.labels: set[bool] = set()

    def see(self, line: int, obj: dict) -> None:
        super().see(line, obj)
        if isinstance(obj.get("label"), bool):
            self.labels.add(obj["label"])
        elif "chosen" in obj:
            self.labels.update((True, False))

    def finish(self) -> Iterator[tuple[int, Issue]]:
        yield from super().finish()
        if len(self.labels) == 1:
            only = next(iter(self.labels))
            yield (
                0,
                (
                    "",
                    "trl.kto.one_label",
                    WARNING,
                    f"every label is {str(only).lower()}: KTO needs desirable (true) and undesirable "
                    "(false) completions",
                ),
            )
