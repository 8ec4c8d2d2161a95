"""What the data-quality gate checks of each profile's roles, and how sure the sources are.

``ftprep gate`` turns these facts into expectations: every message role is one the profile
knows, and the last message is from the role the provider trains on. A check is critical (it
fails the gate) where the provider enforces it and a warning where providers.md marks it
unconfirmed. A profile with no entry here gets no role checks, and the gate says so in a note.
"""

from __future__ import annotations

from dataclasses import dataclass

CRITICAL, WARNING, INFO = "critical", "warning", "info"  # the gate's severities


@dataclass(frozen=True)
class RoleFacts:
    """What a profile requires of roles, and how sure the provider's documents are (providers.md)."""

    roles: tuple[str, ...]
    last_roles: tuple[str, ...]
    last_role_severity: str  # critical where the provider enforces it, warning where unconfirmed
    source: str
    unconfirmed_roles: tuple[str, ...] = ()  # documented elsewhere only: a warning, as validate
    unconfirmed_source: str = ""


_OPENAI = RoleFacts(
    ("system", "user", "assistant", "tool", "function"),
    ("assistant",),
    WARNING,
    "providers.md §9: OpenAI does not enforce the last role [U]",
    ("developer",),
    "providers.md §1: listed for reinforcement fine-tuning only, as validate warns",
)
ROLE_FACTS: dict[str, RoleFacts] = {
    "openai-chat": _OPENAI,
    "azure-openai-chat": _OPENAI,
    "mistral": RoleFacts(
        ("system", "user", "assistant", "tool"),
        ("assistant",),
        CRITICAL,
        "providers.md §6.3: 'Expected last role Assistant for finetuning'",
    ),
    "together": RoleFacts(
        ("system", "user", "assistant"),
        ("assistant",),
        WARNING,
        "providers.md §7, §9: last message not enforced",
    ),
    "azureml-chat": RoleFacts(
        ("system", "user", "assistant"),
        ("assistant",),
        WARNING,
        "providers.md §5: chat-completions format; last role not documented [U]",
    ),
}
