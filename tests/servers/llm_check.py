#!/usr/bin/python3
"""Helpers for the tests of seize reason / seize caption against openai_server.py.

  llm_check.py gen QUERIES.jsonl N_QUERIES N_CAPTIONS [REJECT_ID]
      writes queries with unique captions; query REJECT_ID's relative text contains REJECT_ME
  llm_check.py reason INPUT.jsonl OUTPUT.jsonl [--prompt-file F] [--system S] [--skip ID]...
      checks that OUTPUT has every INPUT query (except skipped ones) in order, other keys kept,
      and edited[k] = the server's deterministic edit of (caption k, relative text) under the
      exact prompt (the authors' one, re-typed here independently, unless --prompt-file)
  llm_check.py journal-keys JOURNAL          prints the keys of complete journal lines
  llm_check.py log-keys LOG INPUT [START]    prints the "id#k" keys requested in LOG (from line
                                             START on), mapping (caption, text) back to INPUT
"""
import hashlib
import json
import sys

SYSTEM = ("I have an image. Given an instruction to edit the image, carefully generate a "
          "description of the edited image.")
USER = ('I will put my image content beginning with "Image Content:". The instruction I provide '
        'will begin with "Instruction:". The edited description you generate should begin with '
        '"Edited Description:". You just generate one edited description only begin with '
        '"Edited Description:". The edited description needs to be as simple as possible and '
        'only reflects image content. Just one line.\nA example:\nImage Content: a man adjusting '
        "a woman's tie.\nInstruction: has the woman and the man with the roles switched.\n"
        "Edited Description: a woman adjusting a man's tie.\n\nImage Content: {}\n"
        "Instruction: {}\nEdited Description:")


def fill(tmpl, cap, instr):
    out, i = [], 0
    while i < len(tmpl):
        if tmpl.startswith("{caption}", i):
            out.append(cap); i += 9
        elif tmpl.startswith("{instruction}", i):
            out.append(instr); i += 13
        elif tmpl.startswith("{{", i) or tmpl.startswith("}}", i):
            out.append(tmpl[i]); i += 2
        else:
            out.append(tmpl[i]); i += 1
    return "".join(out)


def last_field(text, label):
    i = text.rfind(label)
    return None if i < 0 else text[i + len(label):].split("\n", 1)[0].strip()


def expected_edit(system, user):
    """The server's reply to (system, user) after seize's post-processing."""
    h = hashlib.sha1((system + "\0" + user).encode()).hexdigest()[:8]
    cap = last_field(user, "Image Content:")
    if cap is None:
        return f"ECHO #{h}"
    return f"{cap} => {last_field(user, 'Instruction:')} #{h}"


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def cmd_gen(out, n_q, n_c, reject=None):
    with open(out, "w") as f:
        for i in range(int(n_q)):
            text = f"make thing {i} bigger and brighter"
            if reject is not None and str(i) == reject:
                text += " REJECT_ME"
            rec = {"id": i, "relative_text": text,
                   "captions": [f"caption {k} of query {i}" for k in range(int(n_c))],
                   "note": f"kept {i}"}
            f.write(json.dumps(rec) + "\n")


def cmd_reason(inp, outp, args):
    system, user, skip = SYSTEM, None, set()
    i = 0
    while i < len(args):
        if args[i] == "--prompt-file":
            text = open(args[i + 1]).read().rstrip("\r\n")
            lines = text.split("\n")
            if "---" in lines:
                k = lines.index("---")
                system = "\n".join(lines[:k]).rstrip("\r\n")
                text = "\n".join(lines[k + 1:])
            user = text
            i += 2
        elif args[i] == "--system":
            system = args[i + 1]; i += 2
        elif args[i] == "--skip":
            skip.add(args[i + 1]); i += 2
        else:
            sys.exit(f"unknown argument {args[i]}")
    queries = [q for q in load_jsonl(inp) if str(q["id"]) not in skip]
    out = load_jsonl(outp)
    if len(out) != len(queries):
        sys.exit(f"expected {len(queries)} output lines, got {len(out)}")
    for q, o in zip(queries, out):
        if o.get("id") != q["id"]:
            sys.exit(f"order: expected id {q['id']}, got {o.get('id')}")
        for k, v in q.items():
            if o.get(k) != v:
                sys.exit(f"query {q['id']}: key {k} changed")
        caps = q["captions"]
        if len(o.get("edited", [])) != len(caps):
            sys.exit(f"query {q['id']}: {len(o.get('edited', []))} edits for {len(caps)} captions")
        for c, e in zip(caps, o["edited"]):
            u = fill(user, c, q["relative_text"]) if user is not None else \
                USER.format(c, q["relative_text"])
            want = expected_edit(system, u)
            if e != want:
                sys.exit(f"query {q['id']}: edited {e!r}, expected {want!r}")
    print(f"ok: {len(out)} queries checked")


def cmd_journal_keys(path):
    with open(path, "rb") as f:
        data = f.read()
    for line in data.split(b"\n")[:-1]:  # the last piece is torn or empty
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "texts" in rec:
            print(rec["key"])


def cmd_log_keys(log, inp, start=0):
    index = {}
    for q in load_jsonl(inp):
        for k, c in enumerate(q["captions"]):
            index[(c, q["relative_text"])] = f"{json.dumps(q['id'])}#{k}"
    for n, rec in enumerate(load_jsonl(log)):
        if n < int(start):
            continue
        print(index.get((rec.get("caption"), rec.get("instruction")), "?"))


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        cmd_gen(*rest)
    elif cmd == "reason":
        cmd_reason(rest[0], rest[1], rest[2:])
    elif cmd == "journal-keys":
        cmd_journal_keys(rest[0])
    elif cmd == "log-keys":
        cmd_log_keys(*rest)
    else:
        sys.exit(f"unknown command {cmd}")
