"""Pure translators between other LLM wire APIs and the gateway's chat-completions model.

Imports only `gateway.protocol`, `gateway.errors`, msgspec and the stdlib.
"""

from gateway.translate.messages import chat_to_message, count_tokens_to_chat, messages_to_chat
from gateway.translate.messages_stream import MessagesStream, anthropic_error, ping
from gateway.translate.responses import chat_to_response, responses_to_chat
from gateway.translate.responses_stream import ResponsesStream

__all__ = [
    "MessagesStream",
    "ResponsesStream",
    "anthropic_error",
    "chat_to_message",
    "chat_to_response",
    "count_tokens_to_chat",
    "messages_to_chat",
    "ping",
    "responses_to_chat",
]
