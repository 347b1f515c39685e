"""A loopback OpenAI-compatible server for the gateway's network path: serves queued answers (or answers computed
from each request), injects faults, counts the requests in flight, and refuses prompts longer than its context
window the way llama.cpp does."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeOpenAI:
    answers: deque[str] = field(default_factory=deque)
    """Texts to answer with, in order; the last one repeats."""
    faults: deque[tuple[str, Any]] = field(default_factory=deque)
    """Faults for the next requests, one per request: ("status", 429), ("sleep", 3.0), ("malformed", None),
    ("refuse", None) (a content-policy refusal, as OpenAI words it)."""
    always: tuple[str, Any] | None = None
    """A fault for every request (after `faults` are used up). Also ("truncate", None): the answer ends with
    finish_reason `length`; ("ratelimit", seconds): 429 with that Retry-After; ("overflow", None): llama.cpp's
    context-size refusal; ("trickle", seconds): the answer's headers at once, then its body a byte at a time for
    that long (never tripping a per-read timeout); ("nullcut", None): no text at all, cut at the cap (a reasoning
    model that spent the cap thinking)."""
    usage: dict[str, int] | None = None
    """Token counts to claim instead of the true ones (a provider that lies)."""
    respond: Callable[[dict[str, Any]], str] | None = None
    """Computes the answer from the request body instead of taking the next of `answers`."""
    context_window: int | None = None
    """Requests whose prompt has more words than this are refused as too long for the context."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    in_flight: int = 0
    peak: int = 0
    """Most requests seen in flight at once."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _answer(self, body: dict[str, Any], finish_reason: str = "stop") -> dict[str, Any]:
        if self.respond is not None:
            text: str | None = self.respond(body)
        else:
            with self.lock:
                text = self.answers.popleft() if len(self.answers) > 1 else self.answers[0]
        prompt = sum(len(m["content"].split()) for m in body["messages"])
        written = len(text.split()) if text else 0
        usage = {"prompt_tokens": prompt, "completion_tokens": written, "total_tokens": prompt + written}
        if finish_reason == "nullcut":
            text, finish_reason = None, "length"
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": text}}
            ],
            "usage": usage | (self.usage or {}),
        }


def _handler(fake: FakeOpenAI) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): expected
                pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with fake.lock:
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                fault = fake.faults.popleft() if fake.faults else fake.always
                fake.in_flight += 1
                fake.peak = max(fake.peak, fake.in_flight)
            try:
                self._serve(body, fault)
            finally:
                with fake.lock:
                    fake.in_flight -= 1

        def _error(self, status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps({"error": error}).encode(), headers)

        def _serve(self, body: dict[str, Any], fault: tuple[str, Any] | None) -> None:
            words = sum(len(m["content"].split()) for m in body["messages"])
            kind, value = fault or ("", None)
            if kind == "overflow" or (fake.context_window is not None and words > fake.context_window):
                n_ctx = fake.context_window or 0
                message = "the request exceeds the available context size, try increasing it"
                error = {"code": 400, "message": message, "type": "exceed_context_size_error", "n_ctx": n_ctx}
                self._error(400, error)
                return
            if kind == "status":
                self._error(value, {"message": f"injected {value}", "type": "x"})
                return
            if kind == "ratelimit":
                self._error(429, {"message": "rate limited", "type": "x"}, {"Retry-After": str(value)})
                return
            if kind == "refuse":
                error = {
                    "message": "Your request was rejected as a result of our safety system.",
                    "type": "invalid_request_error",
                    "code": "content_policy_violation",
                }
                self._error(400, error)
                return
            if kind == "sleep":
                time.sleep(value)
            elif kind == "malformed":
                self._send(200, b'{"choices": [ this is not json')
                return
            if kind == "trickle":
                self._trickle(json.dumps(fake._answer(body)).encode(), value)
                return
            finish = {"truncate": "length", "nullcut": "nullcut"}.get(kind, "stop")
            self._send(200, json.dumps(fake._answer(body, finish)).encode())

        def _trickle(self, payload: bytes, seconds: float) -> None:
            drip = int(seconds / 0.25)
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(drip + len(payload)))
                self.end_headers()
                self.wfile.flush()
                for _ in range(drip):  # JSON allows leading whitespace: every byte is a valid start
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.25)
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextmanager
def serve(fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def oracle_responder() -> Callable[[dict[str, Any]], str]:
    """Answers every request as the offline oracle would, from the request alone (which role, which step), so
    that concurrent trials can share one server whatever order their calls come in."""
    from pytest_hepagent.llm.offline import _oracle
    from pytest_hepagent.specs import load_specs, load_system_prompts

    prompts = load_system_prompts()
    roles = {prompts.supervisor: "supervisor", prompts.coder: "coder", prompts.debugger: "debugger"}
    roles[prompts.reviewer] = "reviewer"
    tasks = {name: spec.render_prompt().strip() for name, spec in load_specs().items()}

    def respond(body: dict[str, Any]) -> str:
        # the system prompt comes first; litellm may send it to reasoning models with another role
        system = body["messages"][0]["content"]
        user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        role = roles[system]
        step = next(name for name, task in tasks.items() if task in user)
        return _oracle(role, step, user, prompts.accept_phrase)

    return respond
