"""Training prices per model, in USD per 1M training tokens, each with its date and source.

OpenAI bills supervised fine-tuning by trained tokens: "(base training cost per 1M input tokens
÷ 1M) × number of tokens in the input file × number of epochs trained" (reference/providers.md
§1.7, S2). The numbers below are OpenAI's published fine-tuning prices as recorded by the ftprep
authors from openai.com/api/pricing ("Fine-tuning" table, standard tier) in June 2025. The page
could not be re-read from the build environment, so every price is marked unconfirmed: check it
against the pricing page before trusting an estimate, or pass ``--price``. Two third-party pages
from 2026 (tokonomics.ca "LLM fine-tuning costs guide"; getapipulse.com "AI API fine-tuning costs
in 2026", 2026-05-15) give the same gpt-4o ($25) and gpt-4o-mini ($3) prices; other third-party
pages disagree with each other, which is why none of them is used as a source.

Not priced here: Azure OpenAI (per-region token prices plus hourly hosting: use ``--price``),
o4-mini reinforcement fine-tuning (billed per training hour, not per token), gpt-4-0613
(experimental access, no public price).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.profiles.models import ALIASES, base_model

PRICE_DATE = "2025-06"
PRICE_SOURCE = "openai.com/api/pricing, Fine-tuning table (recorded 2025-06, not re-checked)"


@dataclass(frozen=True)
class Price:
    model: str
    usd_per_1m: float
    date: str = PRICE_DATE
    source: str = PRICE_SOURCE
    confirmed: bool = False


_PRICES = [
    Price("gpt-4.1-2025-04-14", 25.00),
    Price("gpt-4.1-mini-2025-04-14", 5.00),
    Price("gpt-4.1-nano-2025-04-14", 1.50),
    Price("gpt-4o-2024-08-06", 25.00),
    Price("gpt-4o-mini-2024-07-18", 3.00),
    Price("gpt-3.5-turbo-0125", 8.00),
    Price("gpt-3.5-turbo-1106", 8.00),
    Price("gpt-3.5-turbo-0613", 8.00),
    Price("davinci-002", 6.00),
    Price("babbage-002", 0.40),
]
PRICES: dict[str, Price] = {p.model: p for p in _PRICES}


def training_price(model: str) -> Price | None:
    """The training price of a model id, alias or fine-tuned id (via its base model), or None."""
    base = base_model(model)
    return PRICES.get(ALIASES.get(base, base))


# OpenAI's default epochs (S1; the data-preparation cookbook): 3, raised so that examples x epochs
# reaches 100, lowered so that it stays under 25,000, within 1 to 25 epochs.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def default_epochs(n_examples: int) -> int:
    """The number of epochs OpenAI picks when the job does not set one (S1)."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS
