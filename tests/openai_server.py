"""Scripted chat-model servers on 127.0.0.1 for LLM-mode tests, used through the real clients.

``ScriptedModel`` serves both wire formats a Citebot LLM provider speaks here:

- OpenAI-compatible ``POST /v1/chat/completions`` (what ``langchain-openai`` sends, and what
  llama.cpp's server and vLLM answer), JSON or Server-Sent Events when ``stream`` is set;
- Ollama's ``POST /api/chat`` (what ``langchain-ollama`` sends), NDJSON lines.

Each request takes the next ``Reply`` from ``replies`` (the last one repeats), or asks
``responder(request_json)`` for one: a reply is cited text, or a failure — a slow first
byte, a slow drip, an HTTP 500, a refusal, a malformed body, a dropped connection.
``requests`` keeps every request body received.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from retrieval.lexical import tokenize


@dataclass(frozen=True)
class Reply:
    text: str = ""
    kind: str = "ok"  # ok | error | refusal | malformed | drop | not_json
    delay: float = 0.0  # seconds before the response starts
    chunk_delay: float = 0.0  # seconds between streamed pieces
    status: int = 500  # for kind="error"


def pieces(text: str) -> list[str]:
    """The text as a model streams it: a word (with its space) at a time."""
    return re.findall(r"\S+\s*|\s+", text)


class ScriptedModel:
    def __init__(
        self, replies: list[Reply] | None = None, responder: Callable[[dict[str, Any]], Reply] | None = None
    ) -> None:
        self.replies = list(replies or [])
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []  # the Authorization header of each request
        self._lock = threading.Lock()

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self.responder is not None:
                return self.responder(body)
            if not self.replies:
                return Reply("")
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Yields the server's origin, e.g. http://127.0.0.1:PORT (OpenAI clients add /v1)."""
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                path = self.path.split("?", 1)[0]
                model.authorizations.append(self.headers.get("Authorization", ""))
                if path not in ("/v1/chat/completions", "/api/chat"):
                    self._send(404, b'{"error": "not found"}')
                    return
                reply = model.next_reply(body)
                with contextlib.suppress(OSError):  # a client that gave up is the point of some tests
                    if reply.delay:
                        time.sleep(reply.delay)
                    if path == "/api/chat":
                        self._ollama(body, reply)
                    else:
                        self._openai(body, reply)

            def _send(self, status: int, data: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _failure(self, reply: Reply) -> bool:
                if reply.kind == "error":
                    self._send(reply.status, json.dumps({"error": {"message": "scripted failure"}}).encode())
                    return True
                if reply.kind == "not_json":
                    self._send(200, b"<html>502 Bad Gateway</html>", "text/html")
                    return True
                if reply.kind == "drop":
                    self.wfile.flush()
                    self.connection.shutdown(2)  # no response at all
                    return True
                return False

            def _openai(self, body: dict[str, Any], reply: Reply) -> None:
                if self._failure(reply):
                    return
                model_name = body.get("model", "scripted")
                if not body.get("stream"):
                    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
                    if reply.kind == "refusal":
                        message = {"role": "assistant", "content": None, "refusal": reply.text}
                    data = {
                        "id": "chatcmpl-scripted",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model_name,
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                    self._send(200, json.dumps(data).encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()

                def event(delta: dict[str, Any], finish: str | None = None) -> None:
                    chunk = {
                        "id": "chatcmpl-scripted",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model_name,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()

                event({"role": "assistant", "content": ""})
                if reply.kind == "malformed":
                    self.wfile.write(b'data: {"choices": [{"delta": {"content": "Iran [1')
                    self.wfile.flush()
                    return
                for piece in pieces(reply.text):
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                    event({"refusal": piece} if reply.kind == "refusal" else {"content": piece})
                event({}, "stop")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _ollama(self, body: dict[str, Any], reply: Reply) -> None:
                if self._failure(reply):
                    return
                model_name = body.get("model", "scripted")
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()

                def line(content: str, done: bool) -> None:
                    obj: dict[str, Any] = {
                        "model": model_name,
                        "created_at": "2024-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": content},
                        "done": done,
                    }
                    if done:
                        obj.update(done_reason="stop", total_duration=1, eval_count=1, prompt_eval_count=1)
                    self.wfile.write(json.dumps(obj).encode() + b"\n")
                    self.wfile.flush()

                if reply.kind == "malformed":
                    self.wfile.write(b'{"message": {"content": "Iran [1')
                    self.wfile.flush()
                    return
                text = "" if reply.kind == "refusal" else reply.text
                for piece in pieces(text):
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                    line(piece, False)
                line("", True)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


# -- a scripted "model" that answers by quoting -----------------------------------------------
_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n\[\d+\] (.*?)\n</passage>', re.DOTALL)
_QUESTION = re.compile(r"<question>(.*?)</question>", re.DOTALL)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]+[\"'”’)]*")


def prompt_parts(body: dict[str, Any]) -> tuple[str, list[tuple[int, str]]]:
    """(question, [(n, passage text)]) from an answer request (OpenAI or Ollama body)."""
    user = "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")
    question = _QUESTION.search(user)
    return (question.group(1) if question else ""), [(int(n), t) for n, t in _PASSAGE.findall(user)]


def quoting_answer(body: dict[str, Any]) -> str:
    """What a faithful model might say: the passage sentence sharing most words with the
    question, cited — so an evaluation through it measures retrieval, prompt and verifier."""
    question, found = prompt_parts(body)
    if not found:  # e.g. a condensing request: echo the follow-up
        user = str(body.get("messages", [{}])[-1].get("content", ""))
        return user.rsplit("Follow-up:", 1)[-1].strip()
    wanted = set(tokenize(question))
    best: tuple[float, int, str] = (-1.0, 0, "")
    for rank, (n, text) in enumerate(found):
        for sentence in _SENTENCE.findall(text):
            overlap = len(wanted & set(tokenize(sentence))) - 0.1 * rank
            if overlap > best[0]:
                best = (overlap, n, sentence.strip())
    _, n, sentence = best
    return f"{sentence.rstrip('.!?')} [{n}]."


def quoting_responder(body: dict[str, Any]) -> Reply:
    return Reply(quoting_answer(body))
