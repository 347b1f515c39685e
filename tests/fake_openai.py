"""A loopback OpenAI-compatible server for the gateway's network path: serves queued answers, injects faults."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
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
    """A fault for every request (after `faults` are used up)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.answers.popleft() if len(self.answers) > 1 else self.answers[0]
        prompt = sum(len(m["content"].split()) for m in body["messages"])
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": len(text.split()),
                "total_tokens": prompt + len(text.split()),
            },
        }


def _handler(fake: FakeOpenAI) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, payload: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): expected
                pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            fault = fake.faults.popleft() if fake.faults else fake.always
            if fault is not None:
                kind, value = fault
                if kind == "status":
                    self._send(value, json.dumps({"error": {"message": f"injected {value}", "type": "x"}}).encode())
                    return
                if kind == "refuse":
                    error = {
                        "message": "Your request was rejected as a result of our safety system.",
                        "type": "invalid_request_error",
                        "code": "content_policy_violation",
                    }
                    self._send(400, json.dumps({"error": error}).encode())
                    return
                if kind == "sleep":
                    time.sleep(value)
                elif kind == "malformed":
                    self._send(200, b'{"choices": [ this is not json')
                    return
            self._send(200, json.dumps(fake._answer(body)).encode())

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
