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

Per row: ``n_tokens`` are the tokens of the rendered conversation (template tokens included,
tokenized without adding special tokens again, as ``apply_chat_template`` does), and
``n_trained_tokens`` those inside assistant turns with weight 1. A template with
``{% generation %}`` markers says where the assistant turns are. Without markers, each assistant
turn is found by rendering prefixes: the conversation up to the turn with the generation prompt,
and up to and including the turn; the characters between the two are the turn (with its end
token), and a token is trained when its character span overlaps one.
"""

from __future__ import annotations

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
    from jinja2 import nodes
    from jinja2.ext import Extension
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

    def tojson(value, indent=None, ensure_ascii=False, sort_keys=False):
        return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
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
        self.render(PROBE)  # an unsafe or broken template fails here, before any data is read
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


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class HFCounter:
    """The Counter interface (``example``, ``messages``, ``n``) over a ChatTokenizer."""

    def __init__(self, tokenizer: ChatTokenizer | Path | str):
        self.tok = tokenizer if isinstance(tokenizer, ChatTokenizer) else ChatTokenizer(tokenizer)
        self._cache: dict[str, int] = {}

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

    def assistant_spans(
        self, messages: list, tools: list | None = None, first: int = 0
    ) -> tuple[str, list[tuple[int, int]]]:
        """The rendered text and the character spans of trained assistant turns from ``first``."""
        rendered, marked = _strip_marks(self.tok.render(messages, tools))
        trained = [
            i
            for i, m in enumerate(messages)
            if isinstance(m, dict) and m.get("role") == "assistant" and m.get("weight", 1) != 0
        ]
        if self.tok.has_generation:
            assistants = [
                i
                for i, m in enumerate(messages)
                if isinstance(m, dict) and m.get("role") == "assistant"
            ]
            if len(marked) == len(assistants):
                keep = set(trained)
                return rendered, [
                    s for i, s in zip(assistants, marked, strict=True) if i in keep and i >= first
                ]
            return rendered, marked
        spans = []
        for i in trained:
            if i < first:
                continue
            before, _ = _strip_marks(
                self.tok.render(messages[:i], tools, add_generation_prompt=True)
            )
            upto, _ = _strip_marks(self.tok.render(messages[: i + 1], tools))
            start = _common_prefix(before, rendered)
            end = _common_prefix(upto, rendered)
            if end > start:
                spans.append((start, end))
        return rendered, spans

    def _count(self, messages: list, tools: list | None, first: int = 0) -> tuple[int, int]:
        rendered, spans = self.assistant_spans(messages, tools, first)
        offsets = self.tok.encode_offsets(rendered)
        trained = 0
        if spans:
            for a, b in offsets:
                if any(a < e and b > s for s, e in spans):
                    trained += 1
        return len(offsets), trained

    def messages(self, messages: list, tools: list | None = None) -> tuple[int, int]:
        return self._count([m for m in messages if isinstance(m, dict)], tools)

    def example(self, ex: dict) -> tuple[int, int]:
        tools = ex.get("tools") or None
        if ex.get("text") is not None and not ex.get("messages"):
            n = self.n(ex["text"])
            return n, n
        prompt = [m for m in ex.get("messages") or [] if isinstance(m, dict)]
        if ex["kind"] == "sft":
            return self._count(prompt, tools)
        answers = [ex.get("chosen") or [], ex.get("rejected") or []]
        if ex["kind"] == "unpaired":
            answers = [ex.get("completion") or []]
        sizes = [self._count(prompt + list(a), tools, first=len(prompt)) for a in answers]
        return max(n for n, _ in sizes), sum(t for _, t in sizes)
