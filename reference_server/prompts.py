"""Turning chat messages (and tools) into the prompt text the model's chat template expects."""

from __future__ import annotations

import json
from typing import Any

from .errors import invalid_request
from .tool_calls import ToolPlan

# Used when a GGUF carries no chat template (base models): plain ChatML.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class ChatPromptBuilder:
    """Renders messages with the model's own Jinja chat template."""

    def __init__(self, template: str | None, bos_token: str, eos_token: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._formatter = Jinja2ChatFormatter(
            template=template or FALLBACK_CHAT_TEMPLATE, bos_token=bos_token, eos_token=eos_token
        )

    def render(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPlan | None = None,
        *,
        param: str = "messages",
    ) -> str:
        """The prompt for a conversation; `param` names the field a rejection is about."""
        plain = [_flatten(i, m) for i, m in enumerate(messages)]
        if tools:
            plain.insert(0, {"role": "system", "content": _tools_instruction(tools)})
        try:
            return self._formatter(messages=plain).prompt
        except Exception as exc:  # a template that rejects the conversation is the caller's input
            raise invalid_request(f"the chat template rejected the {param}: {exc}", param) from exc


def _flatten(index: int, message: dict[str, Any]) -> dict[str, str]:
    role = message["role"]
    if role == "developer":
        role = "system"
    content = message.get("content")
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if part.get("type") == "text":
                texts.append(part.get("text", ""))
            elif part.get("type") == "refusal":
                texts.append(part.get("refusal", ""))
            else:
                raise invalid_request(
                    f"content part type '{part.get('type')}' is not supported by this text model",
                    f"messages[{index}].content[{j}].type",
                )
        content = "".join(texts)
    text = content or ""
    if role == "assistant" and message.get("tool_calls"):
        calls = [c.get("function", {}) for c in message["tool_calls"]]
        text += json.dumps(calls, ensure_ascii=False)
    return {"role": role, "content": text}


def _tools_instruction(plan: ToolPlan) -> str:
    functions = []
    for f in plan.functions:
        spec = {"name": f.name, "description": f.description, "parameters": f.parameters}
        functions.append({k: v for k, v in spec.items() if v is not None})
    call = '{"name": <function name>, "arguments": <arguments object>}'
    how = (
        f"Call one of these functions: answer with one JSON object {call}."
        if plan.required
        else f"You can call these functions. To call one, answer with one JSON object {call} "
        "and nothing else; otherwise answer in plain text."
    )
    return how + "\n" + json.dumps(functions, ensure_ascii=False)
