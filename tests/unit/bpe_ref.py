#!/usr/bin/env python3
"""Independent reference of transformers 4.40's GPT2Tokenizer (slow) for tests/unit/test_bpe.c.

Written from the Python tokenizer's behaviour, standard library only (the `regex` module is
used, when importable, to check the hand-written pre-tokeniser against the real pattern):

    python3 bpe_ref.py MODEL_DIR < requests.jsonl > answers.jsonl

Each request line is {"encode": HEX} (text bytes; bytes that are not UTF-8 are read with
surrogateescape) -> {"ids": [...]}, or {"decode": [ids], "skip": 0|1} -> {"text": HEX of the
UTF-8 text} or {"error": "..."}.
"""
import json
import os
import sys
import unicodedata

PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SPECIAL_ATTRS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                 "mask_token"]
# Unicode White_Space: what the regex module's \s matches
WHITE_SPACE = set([0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F,
                   0x205F, 0x3000] + list(range(0x2000, 0x200B)))


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def is_space(ch):
    return ord(ch) in WHITE_SPACE


def is_letter(ch):
    return unicodedata.category(ch)[0] == "L"


def is_number(ch):
    return unicodedata.category(ch)[0] == "N"


def is_other(ch):
    return not (is_space(ch) or is_letter(ch) or is_number(ch))


def pretokenize(s):
    """re.findall(PAT, s), alternative by alternative with the regex engine's backtracking."""
    out = []
    i, n = 0, len(s)
    while i < n:
        end = None
        for c in ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d"):
            if s.startswith(c, i):
                end = i + len(c)
                break
        for cls in (is_letter, is_number, is_other):
            if end is not None:
                break
            # " ?" is greedy: with the space first, then without it
            for start in ([i + 1, i] if s[i] == " " else [i]):
                j = start
                while j < n and cls(s[j]):
                    j += 1
                if j > start:
                    end = j
                    break
        if end is None and is_space(s[i]):
            j = i
            while j < n and is_space(s[j]):
                j += 1
            for k in range(j, i, -1):  # \s+(?!\S): give back characters until not before \S
                if k == n or is_space(s[k]):
                    end = k
                    break
            if end is None:  # \s+
                end = j
        if end is None:
            i += 1
            continue
        out.append(s[i:end])
        i = end
    return out


def get_pairs(word):
    return set(zip(word[:-1], word[1:]))


class Tokenizer:
    def __init__(self, folder):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        self.decoder = {v: k for k, v in self.encoder.items()}
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            merges = f.read().split("\n")[1:-1]
        merges = [tuple(m.split()) for m in merges]
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        cfg, smap = {}, {}
        path = os.path.join(folder, "tokenizer_config.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                cfg = json.load(f)
        path = os.path.join(folder, "special_tokens_map.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                smap = json.load(f)
        self.clean_up = cfg.get("clean_up_tokenization_spaces", True)
        self.prefix_space = cfg.get("add_prefix_space", False)
        self.errors = cfg.get("errors", "replace")
        special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>"}
        for src in (cfg, smap):
            for key in SPECIAL_ATTRS + ["additional_special_tokens"]:
                if key in src:
                    special[key] = src[key]

        def content(v):
            return v["content"] if isinstance(v, dict) else v

        def strip(v):  # a token given as a dict keeps its lstrip / rstrip
            d = v if isinstance(v, dict) else {}
            return (d.get("lstrip", False), d.get("rstrip", False))
        self.special = {k: content(v) for k, v in special.items()
                        if k != "additional_special_tokens" and v is not None}
        self.additional = [content(v) for v in special.get("additional_special_tokens") or []]
        extended = [(special[a], a) for a in SPECIAL_ATTRS if special.get(a) is not None]
        extended += [(v, "") for v in special.get("additional_special_tokens") or []]
        # added tokens: the config's decoder, then the special tokens not among them
        self.added_decoder = {}  # id -> (content, lstrip, rstrip)
        for k, v in cfg.get("added_tokens_decoder", {}).items():
            self.added_decoder[int(k)] = (v["content"], v.get("lstrip", False),
                                          v.get("rstrip", False))
        self.added_encoder = {v[0]: k for k, v in self.added_decoder.items()}
        for v, _ in extended:
            tok = content(v)
            if not tok or tok in self.added_encoder:
                continue
            vocab = dict(self.encoder, **self.added_encoder)
            idx = vocab[tok] if tok in vocab else len(set(vocab))
            self.added_decoder[idx] = (tok,) + strip(v)
            self.added_encoder[tok] = idx
        self.all_special_tokens = list(dict.fromkeys(
            [self.special[a] for a in SPECIAL_ATTRS if a in self.special] + self.additional))
        self.all_special_ids = [self.token_to_id(t) for t in self.all_special_tokens]

    def token_to_id(self, tok):
        if tok in self.added_encoder:
            return self.added_encoder[tok]
        return self.encoder.get(tok, self.encoder.get(self.special.get("unk_token")))

    def bpe(self, token):
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        return " ".join(word)

    def split_added(self, text):
        """Leftmost, then longest added token; returns [(piece, is_added)]."""
        out, start, i = [], 0, 0
        while i < len(text):
            best = None
            for tok in self.added_encoder:
                if tok and text.startswith(tok, i) and (best is None or len(tok) > len(best)):
                    best = tok
            if best is None:
                i += 1
                continue
            if i > start:
                out.append((text[start:i], False))
            out.append((best, True))
            i += len(best)
            start = i
        if start < len(text):
            out.append((text[start:], False))
        return out

    def encode(self, raw):
        text = raw.decode("utf-8", "surrogateescape")
        if self.prefix_space:
            text = " " + text
        parts = [list(p) for p in self.split_added(text)]
        for i, (piece, added) in enumerate(parts):
            if not added:
                continue
            _, lstrip, rstrip = self.added_decoder[self.added_encoder[piece]]
            if rstrip and i + 1 < len(parts) and not parts[i + 1][1]:
                parts[i + 1][0] = parts[i + 1][0].lstrip()
            if lstrip and i > 0 and not parts[i - 1][1]:
                parts[i - 1][0] = parts[i - 1][0].rstrip()
        ids = []
        for piece, added in parts:
            if added:
                ids.append(self.added_encoder[piece])
                continue
            for word in pretokenize(piece):
                word = "".join(self.byte_encoder[b]
                               for b in word.encode("utf-8", "surrogateescape"))
                for sym in self.bpe(word).split(" "):
                    idx = self.token_to_id(sym)
                    if idx is not None:
                        ids.append(idx)
        return ids

    def tokens_to_string(self, tokens):
        text = "".join(tokens)
        return bytearray([self.byte_decoder[c] for c in text]).decode("utf-8", self.errors)

    def decode(self, ids, skip):
        tokens = []
        for i in ids:
            if skip and i in self.all_special_ids:
                continue
            if i in self.added_decoder:
                tokens.append(self.added_decoder[i][0])
            else:
                tokens.append(self.decoder[i])  # KeyError: not in the vocabulary
        legacy = set(self.added_encoder) - set(self.all_special_tokens) | {
            t for t in self.additional if self.token_to_id(t) >= len(self.encoder)}
        sub_texts, current = [], []
        for tok in tokens:
            if tok in legacy:
                if current:
                    s = self.tokens_to_string(current)
                    if len(s) > 0:
                        sub_texts.append(s)
                    current = []
                sub_texts.append(tok)
            else:
                current.append(tok)
        if current:
            sub_texts.append(self.tokens_to_string(current))
        text = " ".join(sub_texts)
        if self.clean_up:
            for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                         (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"),
                         (" 're", "'re")):
                text = text.replace(a, b)
        return text


def main():
    tok = Tokenizer(sys.argv[1])
    try:
        import regex
        pat = regex.compile(PAT)
    except ImportError:
        pat = None
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if "encode" in req:
            raw = bytes.fromhex(req["encode"])
            if pat is not None:  # the hand-written pattern against the real one
                s = raw.decode("utf-8", "surrogateescape")
                assert pat.findall(s) == pretokenize(s), repr(s)
            ans = {"ids": tok.encode(raw)}
        else:
            try:
                ans = {"text": tok.decode(req["decode"], req.get("skip", 0)).encode().hex()}
            except (KeyError, UnicodeDecodeError) as e:
                ans = {"error": type(e).__name__}
        sys.stdout.write(json.dumps(ans) + "\n")


if __name__ == "__main__":
    main()
