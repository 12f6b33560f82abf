#!/usr/bin/python3
"""A scripted OpenAI-compatible stand-in for the README screenshot (tests/browser/readme_shot.sh):
captions of the cat photo (chelsea.png) and their edits for "the same cat, but asleep on a sofa",
so that the why panel reads like a real one. Not a test server: tests/servers/openai_server.py is.
Usage: scripted_llm.py PORT"""
import json, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
CAPS = [
 ("a close-up of a tabby cat looking at the camera", "a tabby cat asleep on a sofa, curled up"),
 ("an orange and brown cat with green eyes", "an orange and brown cat sleeping on a sofa"),
 ("a tabby cat staring straight ahead", "a tabby cat lying asleep on a couch"),
 ("a close-up photo of a cat's face", "a photo of a cat sleeping on a sofa cushion"),
 ("a striped cat with long white whiskers", "a striped cat with long whiskers dozing on a sofa"),
 ("a ginger tabby cat sitting indoors", "a ginger tabby cat asleep on a living-room sofa"),
 ("a cat with yellow-green eyes and a pink nose", "a cat with its eyes closed, asleep on a sofa"),
 ("the face of a brown tabby cat", "a brown tabby cat napping on a couch"),
 ("a curious cat looking at something", "a cat sound asleep on a sofa"),
 ("a cat with striped fur looking up", "a cat with striped fur curled up asleep on a sofa"),
 ("a close-up of a cat with big eyes", "a cat sleeping on a sofa with its eyes shut"),
 ("a tabby kitten staring at the viewer", "a tabby kitten asleep on a sofa"),
 ("a brown and black striped cat", "a brown and black striped cat sleeping on a couch"),
 ("a portrait of a domestic cat", "a domestic cat napping on a sofa"),
 ("a cat looking intently into the camera", "a cat asleep on a sofa"),
]
EDIT = dict(CAPS); COUNT = [0]; LOCK = threading.Lock()
def field(text, label):
    i = text.rfind(label)
    return None if i < 0 else text[i + len(label):].split("\n", 1)[0].strip()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        content = [m for m in req["messages"] if m["role"] == "user"][-1]["content"]
        has_img = isinstance(content, list) and any(p.get("type") == "image_url" for p in content)
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        n = req.get("n", 1) or 1
        if has_img:
            with LOCK:
                outs = [CAPS[(COUNT[0] + i) % 15][0] for i in range(n)]; COUNT[0] += n
        else:
            cap = field(text, "Image Content:")
            outs = ["Edited Description: " + EDIT.get(cap, cap or "?")] * n
        body = json.dumps({"id": "x", "object": "chat.completion", "model": req.get("model"),
            "choices": [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"} for i, t in enumerate(outs)],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
