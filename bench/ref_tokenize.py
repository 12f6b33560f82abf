#!/usr/bin/env python3
"""A pure-Python reference of the CLIP tokenizer as open_clip's SimpleTokenizer runs it.

open_clip cleans text with ftfy.fix_text, html.unescape twice, whitespace collapsing and
str.lower, splits it with a `regex`-module pattern and applies BPE with a cache. Neither ftfy
nor `regex` is installable here, so this file restates them with the standard library:
ftfy 6's default fixes (without fix_encoding, the mojibake repair, which seize leaves out too)
as ftfy's source defines them, and the split pattern with \\p{L} / \\p{N} spelled out as
character classes built from unicodedata (\\p{L} == str.isalpha, \\p{N} == isnumeric and not
isalpha). The BPE is open_clip's, line for line.

    ref_tokenize.py --vocab vocab.json --merges merges.txt [--context 77] [--clean]
        < texts.jsonl > out.txt

Input: JSON Lines, each line a JSON string. Output: one line per text, the `context` ids
separated by spaces (or, with --clean, the cleaned text as a JSON string).
"""
import argparse
import array
import html
import html.entities
import json
import re
import sys
import unicodedata

# --- ftfy 6 (ftfy/chardata.py, ftfy/fixes.py, ftfy/__init__.py) -------------------------------


def _build_html_entities():
    entities = {}
    for name, char in html.entities.html5.items():
        if name.endswith(";"):
            entities["&" + name] = char
            if name == name.lower():
                name_upper = name.upper()
                entity_upper = "&" + name_upper
                if html.unescape(entity_upper) == entity_upper:
                    entities[entity_upper] = char.upper()
    return entities


HTML_ENTITY_RE = re.compile(r"&#?[0-9A-Za-z]{1,24};")
HTML_ENTITIES = _build_html_entities()
CONTROL_CHARS = {
    i: None
    for r in (range(0x00, 0x09), [0x0B], range(0x0E, 0x20), [0x7F], range(0x206A, 0x2070),
              [0xFEFF], range(0xFFF9, 0xFFFD))
    for i in r
}
LIGATURES = {
    ord("Ĳ"): "IJ", ord("ĳ"): "ij", ord("ŉ"): "ʼn", ord("Ǳ"): "DZ", ord("ǲ"): "Dz",
    ord("ǳ"): "dz", ord("Ǆ"): "DŽ", ord("ǅ"): "Dž", ord("ǆ"): "dž", ord("Ǉ"): "LJ",
    ord("ǈ"): "Lj", ord("ǉ"): "lj", ord("Ǌ"): "NJ", ord("ǋ"): "Nj", ord("ǌ"): "nj",
    ord("ﬀ"): "ff", ord("ﬁ"): "fi", ord("ﬂ"): "fl", ord("ﬃ"): "ffi", ord("ﬄ"): "ffl",
    ord("ﬅ"): "ſt", ord("ﬆ"): "st",
}
WIDTH_MAP = {0x3000: " "}
for _i in range(0xFF01, 0xFFF0):
    _alt = unicodedata.normalize("NFKC", chr(_i))
    if _alt != chr(_i):
        WIDTH_MAP[_i] = _alt
SINGLE_QUOTE_RE = re.compile("[\u02bc\u2018-\u201b]")
DOUBLE_QUOTE_RE = re.compile("[\u201c-\u201f]")
ANSI_RE = re.compile("\033\\[((?:\\d|;)*)([a-zA-Z])")
C1_CONTROL_RE = re.compile(r"[\x80-\x9f]")
SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _unescape_fixup(match):
    text = match.group(0)
    if text in HTML_ENTITIES:
        return HTML_ENTITIES[text]
    elif text.startswith("&#"):
        unescaped = html.unescape(text)
        if ";" in unescaped:
            return text
        return unescaped
    return text


def _c1_fixer(match):
    b = match.group(0).encode("latin-1")
    try:
        return b.decode("windows-1252")
    except UnicodeDecodeError:  # sloppy-windows-1252 passes undefined bytes through
        return match.group(0)


FIXERS = [
    lambda t: C1_CONTROL_RE.sub(_c1_fixer, t),
    lambda t: t.translate(LIGATURES),
    lambda t: t.translate(WIDTH_MAP),
    lambda t: SINGLE_QUOTE_RE.sub("'", DOUBLE_QUOTE_RE.sub('"', t)),
    lambda t: t.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    .replace("\u2029", "\n").replace("\u0085", "\n"),
    lambda t: SURROGATE_RE.sub("\ufffd", t),
    lambda t: ANSI_RE.sub("", t),
    lambda t: t.translate(CONTROL_CHARS),
]


def fix_and_explain(text, unescape):
    if unescape and "<" in text:
        unescape = False
    while True:
        origtext = text
        if unescape:
            text = HTML_ENTITY_RE.sub(_unescape_fixup, text)
        for fixer in FIXERS:
            text = fixer(text)
        text = unicodedata.normalize("NFC", text)
        if text == origtext:
            return text


def fix_text(text):
    out = []
    pos = 0
    unescape = True
    while pos < len(text):
        textbreak = text.find("\n", pos) + 1
        if textbreak == 0:
            textbreak = len(text)
        if (textbreak - pos) > 10**6:
            textbreak = pos + 10**6
        segment = text[pos:textbreak]
        if unescape and "<" in segment:
            unescape = False
        out.append(fix_and_explain(segment, unescape))
        pos = textbreak
    return "".join(out)


# --- open_clip's tokenizer.py ------------------------------------------------------------------


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    pairs = set()
    prev_char = word[0]
    for char in word[1:]:
        pairs.add((prev_char, char))
        prev_char = char
    return pairs


def basic_clean(text):
    text = fix_text(text)
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    text = re.sub(r"\s+", " ", text)
    return text.strip()


def _class(chars):
    out, start, prev = [], None, None
    for c in map(ord, chars):
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        else:
            out.append((start, prev))
            start = prev = c
    if start is not None:
        out.append((start, prev))
    return "".join(re.escape(chr(a)) if a == b else re.escape(chr(a)) + "-" + re.escape(chr(b))
                   for a, b in out)


class Tokenizer:
    def __init__(self, vocab_path, merges_path):
        self.byte_encoder = bytes_to_unicode()
        with open(vocab_path, encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(merges_path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]
        merges = [tuple(line.split()) for line in lines if line.strip()]
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        special_tokens = ["<start_of_text>", "<end_of_text>"]
        self.sot = self.encoder["<|startoftext|>"]
        self.eot = self.encoder["<|endoftext|>"]
        self.special = {"<start_of_text>": self.sot, "<end_of_text>": self.eot}
        self.cache = {}
        codes = array.array("I", range(0xD800))
        codes.extend(range(0xE000, 0x110000))
        allc = codes.tobytes().decode("utf-32-le")  # every scalar value, quickly
        letters = "".join(filter(str.isalpha, allc))
        numbers = "".join(c for c in filter(str.isnumeric, allc) if not c.isalpha())
        # The `regex` module compiles the one-property sets [\p{L}] and [\p{N}] to plain
        # property tests, but matches the set [^\s\p{L}\p{N}] ignoring case: a character whose
        # other case is a letter, number or space (U+0345) matches no alternative at all.
        # Python's `re` would case-expand all three sets, hence the case-sensitive groups.
        cased = set(filter(str.islower, allc)) | set(filter(str.isupper, allc)) | \
            set(filter(str.istitle, allc))
        odd = "".join(sorted(c for c in cased if not c.isalpha() and not c.isnumeric()
                             and not c.isspace()
                             and any(len(v) == 1 and (v.isalpha() or v.isnumeric() or v.isspace())
                                     for v in (c.upper(), c.lower(), c.title()))))
        L, N, X = _class(letters), _class(numbers), _class(odd)
        self.pat = re.compile("|".join(special_tokens) +
                              r"""|'s|'t|'re|'ve|'m|'ll|'d|(?-i:[%s]+)|(?-i:[%s])|(?-i:[^\s%s%s%s]+)"""
                              % (L, N, L, N, X), re.IGNORECASE)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)
        if not pairs:
            return token + "</w>"
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
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
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
        word = " ".join(word)
        self.cache[token] = word
        return word

    def clean(self, text):
        return whitespace_clean(basic_clean(text)).lower()

    def encode(self, text):
        ids = []
        for token in re.findall(self.pat, self.clean(text)):
            if token in self.special:
                ids.append(self.special[token])
                continue
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids

    def __call__(self, text, context):
        tokens = [self.sot] + self.encode(text) + [self.eot]
        if len(tokens) > context:
            tokens = tokens[:context]
            tokens[-1] = self.eot
        return tokens + [0] * (context - len(tokens))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--merges", required=True)
    ap.add_argument("--context", type=int, default=77)
    ap.add_argument("--clean", action="store_true", help="print the cleaned text instead")
    args = ap.parse_args()
    tok = Tokenizer(args.vocab, args.merges)
    out = []
    for line in sys.stdin.buffer.read().decode("utf-8").split("\n"):
        if not line.strip():
            continue
        text = json.loads(line)
        if args.clean:
            out.append(json.dumps(tok.clean(text), ensure_ascii=False))
        else:
            out.append(" ".join(map(str, tok(text, args.context))))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


if __name__ == "__main__":
    main()
