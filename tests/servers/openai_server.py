#!/usr/bin/python3
"""A small OpenAI-compatible chat completions server for tests and benchmarks (stdlib only).

POST /v1/chat/completions (any path ending in /chat/completions) with HTTP/1.1 keep-alive.
Replies are deterministic functions of the request, so a test can check every item's text:

- editing requests (the last user message contains "Image Content: X" and "Instruction: Y"):
  "Edited Description: X => Y #H\\nsecond line ignored", where H = sha1(system + "\\0" + user)[:8]
  pins the exact prompt; other text requests: "ECHO #H".
- captioning requests (an image_url part with a data URL): choice k is
  "a photo of D sample C" where D = sha1(decoded image bytes)[:10] and C counts the samples
  generated for that image so far (so samples differ).

Fault injection, per item (an item is identified by crc32 of its caption + instruction, or of its
image bytes): when crc % FAULT_EVERY == 0, the first FAULT_ATTEMPTS attempts of that item get the
fault FAULTS[(crc // FAULT_EVERY) % len(FAULTS)]: 429 (with Retry-After), 500, 503, drop (close
without reply), malformed (200 with broken JSON), truncate (Content-Length longer than the body),
slow (reply after --slow seconds), empty (200 with no choices). A user message containing
--reject-word always gets 400.

--echo MODE makes the server quote the request's credentials back, as careless servers and
proxies do: the Authorization header (and, for Basic authentication, its decoded user:password),
the request path and Host, in a 400, 401 or 500 error body (error400, error401, error500), inside
the reply text (reply), or in a 200 body that is not JSON (malformed).

--log FILE appends one JSON line per request received (flushed): {"key", "caption",
"instruction", "image", "n", "attempt", "fault", "model", "temperature", "top_p", "seed"}.
--port 0 picks a free port; --port-file receives it once listening.
"""
import argparse
import asyncio
import base64
import hashlib
import json
import sys
import zlib


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--log")
    ap.add_argument("--faults", default="429,500,503,drop,malformed,truncate,slow,empty")
    ap.add_argument("--fault-every", type=int, default=0)
    ap.add_argument("--fault-attempts", type=int, default=1)
    ap.add_argument("--retry-after", default="1")
    ap.add_argument("--slow", type=float, default=3.0)
    ap.add_argument("--reject-word", default="REJECT_ME")
    ap.add_argument("--n-mode", choices=["support", "ignore", "reject"], default="support")
    ap.add_argument("--require-key")
    ap.add_argument("--echo", choices=["error400", "error401", "error500", "reply", "malformed"])
    return ap.parse_args()


ARGS = parse_args()
FAULTS = [f for f in ARGS.faults.split(",") if f]
ATTEMPTS = {}
SAMPLES = {}
LOG = open(ARGS.log, "a", buffering=1) if ARGS.log else None


def sha(s):
    return hashlib.sha1(s if isinstance(s, bytes) else s.encode()).hexdigest()


def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def image_of(content):
    if not isinstance(content, list):
        return None
    for p in content:
        if isinstance(p, dict) and p.get("type") == "image_url":
            url = p.get("image_url", {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                return base64.b64decode(url.split(";base64,", 1)[1])
    return None


def last_field(text, label):
    i = text.rfind(label)
    if i < 0:
        return None
    return text[i + len(label):].split("\n", 1)[0].strip()


def response(status, body, headers=(), length=None):
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
              429: "Too Many Requests", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(status, "Error")
    if isinstance(body, str):
        body = body.encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
            f"Content-Length: {len(body) if length is None else length}", "Connection: keep-alive"]
    head += list(headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def error(status, msg, headers=()):
    return response(status, json.dumps({"error": {"message": msg, "type": "test"}}), headers)


def completion(texts, model):
    return json.dumps({
        "id": "chatcmpl-test", "object": "chat.completion", "model": model,
        "choices": [{"index": k, "message": {"role": "assistant", "content": t},
                     "finish_reason": "stop"} for k, t in enumerate(texts)],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10 * len(texts),
                  "total_tokens": 100 + 10 * len(texts)},
    })


def echo_text(headers, path):
    auth = headers.get("authorization", "")
    decoded = ""
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
        except ValueError:
            decoded = "?"
    return (f"you sent Authorization: {auth} (decoded: {decoded}) to http://{decoded + '@' if decoded else ''}"
            f"{headers.get('host', '')}{path}")


async def handle_request(req, headers, path="/"):
    """Returns (bytes to send or None to drop, close_after)."""
    if ARGS.echo:
        if LOG:
            LOG.write(json.dumps({"key": "echo", "echo": ARGS.echo, "model": req.get("model")}) + "\n")
            LOG.flush()
        text = echo_text(headers, path)
        if ARGS.echo.startswith("error"):
            return error(int(ARGS.echo[5:]), "bad request: " + text), False
        if ARGS.echo == "malformed":  # starts with the bare credential: parsers quote it
            cred = headers.get("authorization", "").split(" ", 1)[-1]
            return response(200, cred + " " + text), False
        return response(200, completion([text], req.get("model", ""))), False
    if ARGS.require_key and headers.get("authorization") != "Bearer " + ARGS.require_key:
        return error(401, "invalid api key"), False
    try:
        msgs = req["messages"]
        system = "".join(text_of(m.get("content")) for m in msgs if m.get("role") == "system")
        user_msgs = [m for m in msgs if m.get("role") == "user"]
        content = user_msgs[-1].get("content")
    except (KeyError, TypeError, IndexError, AttributeError):
        return error(400, "bad request: messages"), False
    user = text_of(content)
    image = image_of(content)
    n = req.get("n", 1) or 1
    model = req.get("model", "")
    if image is not None:
        digest = sha(image)[:10]
        key = "img:" + digest
        cap = instr = None
    else:
        cap = last_field(user, "Image Content:")
        instr = last_field(user, "Instruction:")
        key = "txt:" + (cap or "") + "\0" + (instr or "") if cap is not None else "raw:" + sha(user)
    attempt = ATTEMPTS.get(key, 0) + 1
    ATTEMPTS[key] = attempt
    crc = zlib.crc32(key.encode())
    fault = None
    if ARGS.reject_word and ARGS.reject_word in user:
        fault = "reject"
    elif ARGS.fault_every > 0 and FAULTS and crc % ARGS.fault_every == 0 \
            and attempt <= ARGS.fault_attempts:
        fault = FAULTS[(crc // ARGS.fault_every) % len(FAULTS)]
    if LOG:
        LOG.write(json.dumps({"key": key, "caption": cap, "instruction": instr,
                              "image": digest if image is not None else None, "n": n,
                              "attempt": attempt, "fault": fault, "model": model,
                              "temperature": req.get("temperature"),
                              "top_p": req.get("top_p"), "seed": req.get("seed"),
                              "max_tokens": req.get("max_tokens")}) + "\n")
        LOG.flush()
    if ARGS.latency > 0:
        await asyncio.sleep(ARGS.latency)
    if fault == "reject":
        return error(400, "this request is rejected by the test server"), False
    if fault == "429":
        return error(429, "rate limited", [f"Retry-After: {ARGS.retry_after}"]), False
    if fault in ("500", "503"):
        return error(int(fault), "server error " + fault), False
    if fault == "drop":
        return None, True
    if fault == "malformed":
        return response(200, '{"choices": [{"message": {"content": "broken'), False
    if fault == "empty":
        return response(200, '{"choices": []}'), False
    if fault == "slow":
        await asyncio.sleep(ARGS.slow)
    if n > 1 and ARGS.n_mode == "reject":
        return error(400, "only one completion choice is allowed"), False
    if n > 1 and ARGS.n_mode == "ignore":
        n = 1
    if image is not None:
        texts = []
        for _ in range(n):
            c = SAMPLES.get(digest, 0)
            SAMPLES[digest] = c + 1
            texts.append(f"a photo of {digest} sample {c}")
    else:
        h = sha(system + "\0" + user)[:8]
        if cap is not None:
            t = f"Edited Description: {cap} => {instr} #{h}\nsecond line ignored"
        else:
            t = f"ECHO #{h}"
        texts = [t] * n
    body = completion(texts, model)
    if fault == "truncate":
        data = body.encode()
        return response(200, data[: len(data) // 2], length=len(data)), True
    return response(200, body), False


async def serve(reader, writer):
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            headers = {}
            for ln in lines[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            if len(parts) < 2 or parts[0] != "POST" or not parts[1].endswith("/chat/completions"):
                writer.write(error(404, "not found"))
                await writer.drain()
                continue
            try:
                req = json.loads(body)
                if not isinstance(req, dict):
                    raise ValueError("not an object")
            except ValueError as e:
                writer.write(error(400, f"bad JSON: {e}"))
                await writer.drain()
                continue
            out, close = await handle_request(req, headers, parts[1])
            if out is None:
                writer.transport.abort()
                return
            writer.write(out)
            await writer.drain()
            if close or headers.get("connection", "").lower() == "close":
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    server = await asyncio.start_server(serve, ARGS.host, ARGS.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    if ARGS.port_file:
        tmp = ARGS.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        import os
        os.replace(tmp, ARGS.port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
