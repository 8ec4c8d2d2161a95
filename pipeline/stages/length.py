"""The length policy: what happens to an Example over its model's per-example token limit.

Takes a counted Example (``n_tokens`` set), the limit and a policy; yields the Example (kept,
maybe shortened) or a rejection. Trainers cut long examples silently from the end, so the policy
makes the cut visible:

* ``flag`` (default): keep the row; it is named in the run summary and in manifest.json.
* ``drop``: the row goes to rejected.jsonl (stage ``count``, rule ``length.over_limit``).
* ``truncate``: keep the start of the conversation that fits, as the trainer would: whole
  messages while they fit, then the text of the message that crosses the limit cut at a token
  boundary, nothing after it. The row records ``truncated_from`` (tokens before) in ``meta``. If
  what is left holds no trained token, the row is rejected with ``length.no_trained_tokens``; if
  it is no longer a valid example for the profile, with ``length.over_limit`` and the reason.

Only supervised conversations (kind ``sft``) can be shortened; other kinds over the limit are
rejected under ``truncate`` too, since cutting a preference pair changes what it prefers.
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline.records import rejection

POLICIES = ("flag", "drop", "truncate")
RULE = "length.over_limit"
NO_TRAINED = "length.no_trained_tokens"  # truncate kept only the prompt


class PolicyError(ValueError):
    """An unknown length policy name."""


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise PolicyError(f"unknown length policy {policy!r}: choose one of {', '.join(POLICIES)}")
    return policy


def over_limit_rejection(ex: dict, raw: Any, limit: int, why: str = "") -> dict:
    message = (
        f"{ex['n_tokens']:,} tokens, over the {limit:,}-token limit per example"
        + (f"; {why}" if why else "")
        + ": shorten the conversation, raise --max-tokens, or use --length-policy truncate"
    )
    rej = rejection(ex["source"], ex["line"], "count", RULE, message, raw=raw)
    rej["tokens"] = ex["n_tokens"]
    return rej


def _fits(counter: Any, messages: list, tools: Any, limit: int) -> bool:
    return counter.messages(messages, tools)[0] <= limit


def truncate_messages(counter: Any, messages: list, tools: Any, limit: int) -> list | None:
    """The longest start of ``messages`` within ``limit`` tokens, or None if nothing fits."""
    if _fits(counter, messages, tools, limit):
        return messages
    lo, hi = 0, len(messages)  # messages[:lo] fits, messages[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _fits(counter, messages[:mid], tools, limit):
            lo = mid
        else:
            hi = mid
    kept = list(messages[:lo])
    crossing = messages[lo]
    text = crossing.get("content") if isinstance(crossing, dict) else None
    if isinstance(text, str) and text and not crossing.get("tool_calls"):
        ids = counter.encode(text)
        good, bad = 0, len(ids)  # cut the text at the most tokens that fit
        while bad - good > 1:
            mid = (good + bad) // 2
            part = {**crossing, "content": counter.decode(ids[:mid])}
            if _fits(counter, [*kept, part], tools, limit):
                good = mid
            else:
                bad = mid
        if good:
            kept.append({**crossing, "content": counter.decode(ids[:good])})
    return kept or None


def apply_length_policy(
    ex: dict, raw: Any, counter: Any, limit: int, policy: str, revalidate: Any = None
) -> dict:
    """The Example under the policy (kept, marked ``over_limit``), or a rejection.

    ``revalidate(ex)`` re-renders and re-checks a truncated Example and returns its error
    message or None; the engine passes the profile's render + validate.
    """
    original = ex["n_tokens"]
    if policy == "drop":
        return over_limit_rejection(ex, raw, limit)
    if policy == "flag":
        ex["over_limit"] = {"tokens": original, "action": "flagged"}
        return ex
    if ex["kind"] != "sft" or not ex.get("messages"):
        return over_limit_rejection(ex, raw, limit, f"a {ex['kind']} record cannot be truncated")
    kept = truncate_messages(counter, ex["messages"], ex.get("tools") or None, limit)
    if kept is None:
        return over_limit_rejection(ex, raw, limit, "not even its first message fits")
    short = copy.copy(ex)
    short["messages"] = kept
    short["meta"] = {**(ex.get("meta") or {}), "truncated_from": original}
    short["n_tokens"], short["n_trained_tokens"] = counter.example(short)
    if not short["n_trained_tokens"]:
        rej = over_limit_rejection(
            ex,
            raw,
            limit,
            "what fits holds no trained token (the assistant turns are past the cut)",
        )
        rej["rule"] = NO_TRAINED
        rej["message"] = rej["message"].replace(
            "or use --length-policy truncate", "or move the assistant reply earlier"
        )
        return rej
    problem = revalidate(short) if revalidate else None
    if problem:
        return over_limit_rejection(ex, raw, limit, f"truncated, it is no longer valid ({problem})")
    short["over_limit"] = {"tokens": original, "action": "truncated", "kept": short["n_tokens"]}
    return short


def summarize(policy: str, limit: int | None, over_limit: list[dict], dropped: list[dict]) -> dict:
    """The manifest's ``length`` section: rows and tokens affected by the policy."""
    flagged = [o for o in over_limit if o.get("action", "flagged") == "flagged"]
    truncated = [o for o in over_limit if o.get("action") == "truncated"]
    return {
        "policy": policy,
        "max_tokens": limit,
        "over_limit_rows": len(over_limit) + len(dropped),
        "flagged_rows": len(flagged),
        "flagged_tokens_over": sum(o["tokens"] - limit for o in flagged) if limit else 0,
        "dropped_rows": len(dropped),
        "dropped_tokens": sum(d["tokens"] for d in dropped),
        "truncated_rows": len(truncated),
        "truncated_tokens_removed": sum(o["tokens"] - o["kept"] for o in truncated),
    }


def summary_lines(length: dict, over_limit: list[dict], show: int = 10) -> list[str]:
    """Human lines for the run summary; flagged rows are named (file:line), up to ``show``."""
    if not length or not length["over_limit_rows"]:
        return []
    limit = length["max_tokens"]
    lines = [
        f"  length    policy {length['policy']}, limit {limit:,}: "
        f"{length['over_limit_rows']:,} row(s) over; flagged {length['flagged_rows']:,} "
        f"({length['flagged_tokens_over']:,} tokens over), dropped {length['dropped_rows']:,} "
        f"({length['dropped_tokens']:,} tokens), truncated {length['truncated_rows']:,} "
        f"({length['truncated_tokens_removed']:,} tokens removed)"
    ]
    flagged = [o for o in over_limit if o.get("action", "flagged") == "flagged"]
    for o in flagged[:show]:
        lines.append(f"  warning: {o['source']}:{o['line']}: {o['tokens']:,} tokens [{RULE}]")
    if len(flagged) > show:
        lines.append(f"  warning: ... and {len(flagged) - show:,} more (see manifest.json)")
    return lines
