"""A scripted OpenAI-compatible (and Ollama) chat server for tests (stdlib only):
`python llm_server.py PORT SCRIPT LOG`.

SCRIPT is a JSON list of replies, used in order (the last one repeats): {"content": "...",
"stream": bool (answer as server-sent events when the request asks for streaming), "sleep": seconds,
"status": an HTTP error status to answer with instead}.
Every request (headers and JSON body) is appended to LOG as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT, SCRIPT, LOG = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
_count = 0


def _next_reply() -> dict:
    global _count
    replies = json.loads(SCRIPT.read_text()) or [{"content": ""}]
    reply = replies[min(_count, len(replies) - 1)]
    _count += 1
    return reply


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        with LOG.open("a") as fh:
            fh.write(json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body}) + "\n")
        if self.path == "/api/chat":
            self._ollama(body)
            return
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        reply = _next_reply()
        time.sleep(float(reply.get("sleep", 0)))
        if reply.get("status", 200) != 200:  # e.g. a server without structured output
            payload = json.dumps({"error": {"message": reply.get("content", "bad request"), "type": "invalid_request_error"}}).encode()
            self.send_response(int(reply["status"]))
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        content = reply.get("content", "")
        base = {"id": "chatcmpl-test", "created": int(time.time()), "model": body.get("model", "test")}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            words = content.split(" ")
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                chunk = {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            end = {**base, "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
            self.close_connection = True
            return
        payload = json.dumps({**base, "object": "chat.completion",
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                           "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


    def _ollama(self, body: dict) -> None:
        """Ollama's own API: newline-delimited JSON, streamed unless "stream" is false."""
        reply = _next_reply()
        time.sleep(float(reply.get("sleep", 0)))
        content = reply.get("content", "")
        base = {"model": body.get("model", "test"), "created_at": "2026-01-01T00:00:00Z"}
        words = content.split(" ") if body.get("stream", True) else [content]
        lines = [{**base, "message": {"role": "assistant", "content": w if i == 0 else " " + w}, "done": False}
                 for i, w in enumerate(words)]
        lines.append({**base, "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
                      "total_duration": 1, "prompt_eval_count": 1, "eval_count": 1})
        if not body.get("stream", True):
            lines = [{**lines[-1], "message": {"role": "assistant", "content": content}}]
        payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
