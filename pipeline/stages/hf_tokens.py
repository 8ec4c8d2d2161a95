"""Token counts for open models (Phi-3, Llama 3, Mistral, Qwen, ...) with the model's own tokenizer
and chat template, from a local folder: ``tokenizer.json`` (Hugging Face ``tokenizers``) and
``tokenizer_config.json`` (``chat_template``, ``bos_token``, ``eos_token``). Nothing is downloaded.

The template is rendered in Jinja's ``ImmutableSandboxedEnvironment`` with the globals that
Hugging Face's ``apply_chat_template`` provides (``raise_exception``, ``strftime_now``, a ``tojson``
filter that keeps non-ASCII text, ``trim_blocks``/``lstrip_blocks``), so a template from an
untrusted folder cannot reach Python internals: ``{{ ''.__class__ }}`` or ``cycler.__init__``
raise ``TemplateError`` with the sandbox's reason, never run. The template is checked when it is
loaded by rendering a probe conversation, so an unsafe or broken template is a usage error (exit 2)
before any data is read; a row the template refuses (``raise_exception``) is a rejection.

Per row, as Hugging Face ``transformers`` (5.x) does it: message keys whose value is None are
dropped before rendering (a tool call's ``"content": null`` is no content, not the text "None"),
and a message's reasoning (``reasoning``, ``reasoning_content`` or ``thinking``) is passed under
``reasoning_content`` and ``thinking`` as well, the names templates read. ``n_tokens`` are the tokens
of the rendered conversation (template tokens included, tokenized without adding special tokens
again, as ``apply_chat_template`` does: ``len(apply_chat_template(messages, tools=...,
tokenize=True))``), and ``n_trained_tokens`` those inside assistant turns with weight 1.

A template with ``{% generation %}`` markers says where the assistant turns are, and a token is
trained when it overlaps one (transformers' ``return_assistant_tokens_mask``). Without markers
(no official template has them), a turn starts where the conversation up to it, rendered with the
generation prompt, stops matching the whole conversation's rendering, and it ends where the
whole rendering stops matching the turn as the template writes it when it is the last message.
A turn that renders differently at the end (Qwen3 adds an empty ``<think>`` block to its last
turn) is aligned on its own text inside the whole rendering, not cut short at the first
difference; and a span is counted in whole tokens: a token that only starts inside it (Phi-3's
``<|user|>`` after the shared characters ``<|``) is not trained. The convention: a turn's
trained tokens run from the first token after the generation prompt to the end of the turn as the
template writes it before the next message, end-of-turn token included (``<|eot_id|>``,
``<|im_end|>`` and the newline after it, ``<end_of_turn>``, ``<|end|>``, ``</s>``).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.stages.tokens import TokenizerError

_START, _END = "\ue000", "\ue001"  # private-use marks around {% generation %} output
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")
PROBE = [  # no system message: some templates refuse the system role (Gemma's)
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi! How can I help?"},
    {"role": "user", "content": "Thanks"},
    {"role": "assistant", "content": "You are welcome."},
]
HUGE = 10_000_000  # model_max_length above this is the library's "unset" sentinel


class TemplateError(TokenizerError):
    """A chat template that cannot be loaded, is unsafe, or refuses a conversation."""


def _sandbox():
    from jinja2 import nodes, utils
    from jinja2.exceptions import SecurityError
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        """``{% generation %}...{% endgeneration %}`` marks assistant output (as in transformers)."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

        def _mark(self, caller):
            return _START + caller() + _END

    def raise_exception(message):
        from jinja2.exceptions import TemplateError as JinjaError

        raise JinjaError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            value,
            ensure_ascii=ensure_ascii,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
        )

    class Namespace(utils.Namespace):
        """``namespace()`` that refuses underscore names, as transformers' does."""

        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            for name in dict(*args, **kwargs):
                Namespace._check(name)
            utils.Namespace.__init__(self, *args, **kwargs)

        def __setitem__(self, name, value):
            Namespace._check(name)
            utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise SecurityError(f"a namespace attribute may not start with '_': {name!r}")

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.globals["namespace"] = Namespace
    return env


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def fingerprint(folder: str | Path) -> dict[str, Any]:
    """What the manifest and the stage cache record about a tokenizer folder: its files' sha256
    (without loading the tokenizer)."""
    path = Path(folder)
    files = {}
    for name in ("tokenizer.json", "tokenizer_config.json"):
        p = path / name
        if p.is_file():
            files[name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return {"library": "tokenizers", "path": str(path), "sha256": files}


class ChatTokenizer:
    """A local tokenizer folder: tokenize text and render conversations with its chat template."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        tok_file, cfg_file = self.path / "tokenizer.json", self.path / "tokenizer_config.json"
        if not tok_file.is_file():
            raise TokenizerError(
                f"{self.path}: no tokenizer.json; --tokenizer needs a folder with tokenizer.json "
                "and tokenizer_config.json (as saved by the model's Hugging Face repository)"
            )
        try:
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(tok_file))
        except Exception as exc:  # the Rust library raises its own exception types
            raise TokenizerError(f"{tok_file}: not a tokenizers file: {exc}") from None
        try:
            config = json.loads(cfg_file.read_text(encoding="utf-8")) if cfg_file.is_file() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TokenizerError(f"{cfg_file}: not valid JSON: {exc}") from None
        self.config = config
        template = config.get("chat_template")
        if isinstance(
            template, list
        ):  # [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default") or next(iter(named.values()), None)
        if not isinstance(template, str) or not template.strip():
            jinja = self.path / "chat_template.jinja"
            template = jinja.read_text(encoding="utf-8") if jinja.is_file() else None
        if not template:
            raise TemplateError(
                f"{self.path}: tokenizer_config.json has no chat_template (and there is no "
                "chat_template.jinja): add the model's template"
            )
        self.template_source = template
        self.has_generation = bool(_GENERATION.search(template))
        self.special = {
            k: _token_text(config.get(k))
            for k in ("bos_token", "eos_token", "unk_token", "pad_token")
        }
        from jinja2.exceptions import TemplateSyntaxError

        try:
            self.template = _sandbox().from_string(template)
        except TemplateSyntaxError as exc:
            raise TemplateError(
                f"{self.path}: chat template has a syntax error at line {exc.lineno}: {exc.message}"
            ) from None
        bos = self.special.get("bos_token")
        self.bos_id = self.tokenizer.token_to_id(bos) if bos else None
        plain = self.tokenizer.encode("a", add_special_tokens=False).ids
        added = self.tokenizer.encode("a", add_special_tokens=True).ids
        self.adds_bos = self.bos_id is not None and self.bos_id in added[: len(added) - len(plain)]
        self.render(PROBE)  # an unsafe or broken template fails here, before any data is read
        if not render_conversation(self, PROBE).n_trained:
            how = (
                "its {% generation %} blocks hold no text"
                if self.has_generation
                else "it writes none of the assistant messages"
            )
            raise TemplateError(
                f"{self.path}: the chat template renders no assistant tokens for a plain "
                f"user/assistant conversation ({how}), so every row would train on nothing: fix "
                "the template in tokenizer_config.json (or chat_template.jinja), or use the "
                "model's official one"
            )
        limit = config.get("model_max_length")
        self.max_tokens = limit if isinstance(limit, int) and 0 < limit < HUGE else None

    @property
    def name(self) -> str:
        return f"tokenizers:{self.path.name}"

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.path)

    def render(
        self, messages: list, tools: list | None = None, add_generation_prompt: bool = False
    ) -> str:
        """The conversation as the template writes it (generation marks included)."""
        from jinja2.exceptions import SecurityError
        from jinja2.exceptions import TemplateError as JinjaError

        try:
            return self.template.render(
                messages=messages,
                tools=tools or None,
                add_generation_prompt=add_generation_prompt,
                **{k: v for k, v in self.special.items() if v is not None},
            )
        except SecurityError as exc:
            raise TemplateError(
                f"{self.path}: the chat template is unsafe and was stopped by the sandbox: {exc}"
            ) from None
        except JinjaError as exc:
            raise TemplateError(f"chat template refused the conversation: {exc}") from None
        except Exception as exc:  # the template is the model's code: any error is its own
            raise TemplateError(f"chat template failed on the conversation: {exc!r}") from None

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def encode_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.tokenizer.encode(text, add_special_tokens=False).offsets


REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")  # as transformers names them


def template_messages(messages: list) -> list[dict]:
    """The messages as transformers 5.x hands them to a template: keys whose value is None
    dropped, and a reasoning also under ``thinking`` and ``reasoning_content``."""
    out = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        m = {k: v for k, v in m.items() if v is not None}
        reasoning = next((m[k] for k in REASONING_FIELDS if m.get(k) is not None), None)
        if reasoning is not None:
            m = {"thinking": reasoning, **m, "reasoning_content": reasoning}
        out.append(m)
    return out


def _strip_marks(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Remove the generation marks; return the text and the character spans they enclosed."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    start = None
    for piece in re.split(f"([{_START}{_END}])", text):
        if piece == _START:
            start = pos
        elif piece == _END:
            if start is not None:
                spans.append((start, pos))
            start = None
        else:
            out.append(piece)
            pos += len(piece)
    return "".join(out), spans


def _common_prefix(a: str, b: str, start: int = 0, start_b: int | None = None) -> int:
    """How many characters ``a[start:]`` and ``b[start_b:]`` share at their start (slices are
    compared in C, halving: fast on long conversations)."""
    start_b = start if start_b is None else start_b
    n = min(len(a) - start, len(b) - start_b)
    if n <= 0:
        return 0
    if a[start : start + n] == b[start_b : start_b + n]:
        return n
    lo, hi = 0, n  # a[start:start+lo] == b[...], and hi characters differ
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[start : start + mid] == b[start_b : start_b + mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _turn_end(alone: str, start: int, whole: str) -> tuple[int, bool]:
    """Where the turn that starts at ``start`` of ``whole`` ends, given ``alone``: the
    conversation rendered up to and including that turn, as the last message. When the turn
    renders the same in both, that is where ``alone`` stops matching ``whole``. When it renders
    differently at the end (Qwen3's empty ``<think>`` block on the last turn only), the turn's
    text is found by aligning ``alone``'s tail on ``whole``: the longest run of ``whole`` from
    ``start`` that ``alone`` holds from some position of its turn. Returns (end, aligned)."""
    shared = _common_prefix(alone, whole, start)
    if start + shared == len(alone) or start >= len(whole):
        return start + shared, False
    best = shared
    first = whole[start]
    j = alone.find(first, start + 1)
    while j != -1 and len(alone) - j > best:
        run = _common_prefix(alone, whole, j, start)
        if run > best:
            best = run
        j = alone.find(first, j + 1)
    return start + best, best > shared


class Rendering:
    """One conversation through the template: the text, its tokens (ids and character offsets),
    the character span of each trained assistant turn (by message index) and, per token, whether
    it is trained."""

    __slots__ = ("text", "ids", "offsets", "spans", "trained", "marked")

    def __init__(self, text, ids, offsets, spans, marked):
        self.text, self.ids, self.offsets, self.spans, self.marked = (
            text,
            ids,
            offsets,
            spans,
            marked,
        )
        self.trained = _trained_tokens(offsets, list(spans.values()), marked)

    @property
    def n_trained(self) -> int:
        return sum(self.trained)


def _trained_tokens(offsets: list, spans: list[tuple[int, int]], marked: bool) -> list[bool]:
    """Per token: trained or not. Marked spans count every token that overlaps them (as
    transformers' mask does); spans found by rendering count whole tokens, a token that ends in
    them (one that only starts inside, past a shared prefix of characters, is the next turn's)."""
    out = [False] * len(offsets)
    if not spans:
        return out
    starts = [a for a, _ in offsets]
    ends = [b for _, b in offsets]
    for s, e in spans:
        lo = bisect.bisect_right(ends, s)  # the first token that ends after the span starts
        hi = bisect.bisect_left(starts, e) if marked else bisect.bisect_right(ends, e)
        out[lo:hi] = [True] * max(0, hi - lo)
    return out


def render_conversation(
    tok: ChatTokenizer, messages: list, tools: list | None = None, first: int = 0
) -> Rendering:
    """``messages`` (as transformers hands them to the template: ``template_messages``) through
    ``tok``'s template, with the spans of the assistant turns with weight 1 from index ``first``."""
    text, marked = _strip_marks(tok.render(messages, tools))
    encoding = tok.tokenizer.encode(text, add_special_tokens=False)
    assistants = [
        i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"
    ]
    keep = {i for i in assistants if i >= first and messages[i].get("weight", 1) != 0}
    spans: dict[int, tuple[int, int]] = {}
    if tok.has_generation:
        if len(marked) == len(assistants):
            spans = {i: s for i, s in zip(assistants, marked, strict=True) if i in keep}
        else:  # the markers do not map one to one on the turns: take them all
            spans = {-1 - k: s for k, s in enumerate(marked)}
        return Rendering(text, encoding.ids, encoding.offsets, spans, True)
    for i in sorted(keep):
        before, _ = _strip_marks(tok.render(messages[:i], tools, add_generation_prompt=True))
        start = _common_prefix(before, text)
        alone, _ = _strip_marks(tok.render(messages[: i + 1], tools))
        end, _ = _turn_end(alone, start, text)
        if end > start:
            spans[i] = (start, end)
    return Rendering(text, encoding.ids, encoding.offsets, spans, False)


class HFCounter:
    """The Counter interface (``example``, ``messages``, ``n``) over a ChatTokenizer. After
    ``example``, ``last_issues`` holds what the template did to that row (dropped messages,
    reasoning, a second BOS: ``template_checks``)."""

    def __init__(self, tokenizer: ChatTokenizer | Path | str):
        self.tok = tokenizer if isinstance(tokenizer, ChatTokenizer) else ChatTokenizer(tokenizer)
        self._cache: dict[str, int] = {}
        self.last_issues: list = []

    @property
    def name(self) -> str:
        return self.tok.name

    def new_batch(self) -> None:
        if len(self._cache) > 65_536:
            self._cache.clear()

    def n(self, text: str) -> int:
        if not text:
            return 0
        cached = self._cache.get(text)
        if cached is None:
            cached = self._cache[text] = len(self.tok.encode(text))
        return cached

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def render(self, messages: list, tools: list | None = None, first: int = 0) -> Rendering:
        return render_conversation(self.tok, template_messages(messages), tools or None, first)

    def _count(
        self, messages: list, tools: list | None, first: int = 0, side: str = "messages"
    ) -> tuple[int, int]:
        from pipeline.stages.template_checks import row_issues

        msgs = template_messages(messages)
        done = render_conversation(self.tok, msgs, tools or None, first)
        for issue in row_issues(self.tok, msgs, done, first, side):
            if issue not in self.last_issues:
                self.last_issues.append(issue)
        return len(done.ids), done.n_trained

    def messages(self, messages: list, tools: list | None = None) -> tuple[int, int]:
        return self._count(messages, tools)

    def example(self, ex: dict) -> tuple[int, int]:
        from pipeline.stages.template_checks import text_issues

        self.last_issues = []
        tools = ex.get("tools") or None
        if ex.get("text") is not None and not ex.get("messages"):
            self.last_issues = text_issues(self.tok, ex["text"])
            n = self.n(ex["text"])
            return n, n
        prompt = [m for m in ex.get("messages") or [] if isinstance(m, dict)]
        if ex["kind"] == "sft":
            return self._count(prompt, tools)
        sides = ("completion",) if ex["kind"] == "unpaired" else ("chosen", "rejected")
        sizes = [
            self._count(prompt + list(ex.get(side) or []), tools, len(prompt), side)
            for side in sides
        ]
        return max(n for n, _ in sizes), sum(t for _, t in sizes)
