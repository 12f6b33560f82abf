#!/usr/bin/env bash
# seize tokenize: usage, the fixture ids through --jsonl, plain line input, and a differential
# check against the pure-Python reference (bench/ref_tokenize.py) on awkward texts.
. "$(dirname "$0")/lib.sh"
need_fixtures
M="$FIX/models/tiny-openai"

expect_status 0 seize tokenize --help
grep -q "usage: seize tokenize" "$TMP/out" || fail "--help prints no usage"
expect_status 2 seize tokenize "a dog"
expect_status 2 seize tokenize -m "$M"
expect_status 2 seize tokenize -m "$M" --context 1 "a dog"
expect_status 2 seize tokenize -m "$M" --jsonl "a dog"
expect_status 2 seize tokenize -m "$M" --input x.txt "a dog"
expect_status 1 seize tokenize -m "$TMP/no-such-model" "a dog"
grep -q "no-such-model" "$TMP/err" || fail "missing model folder not named: $(cat "$TMP/err")"
expect_status 1 seize tokenize -m "$M" --input "$TMP/no-such-file.txt"
grep -q "no-such-file.txt" "$TMP/err" || fail "missing input not named"

# TEXT arguments: one line each, exact ids
expect_status 0 seize tokenize -m "$M" "a dog with a hat" ""
want1="[49406, 320, 1929, 593, 320, 3801, 49407$(printf ', 0%.0s' $(seq 70))]"
want2="[49406, 49407$(printf ', 0%.0s' $(seq 75))]"
[ "$(sed -n 1p "$TMP/out")" = "$want1" ] || fail "ids of 'a dog with a hat': $(sed -n 1p "$TMP/out")"
[ "$(sed -n 2p "$TMP/out")" = "$want2" ] || fail "ids of '': $(sed -n 2p "$TMP/out")"
[ "$(wc -l <"$TMP/out")" -eq 2 ] || fail "expected 2 lines"

# All fixture texts through --jsonl (objects with "text"), compared with their "ids"
expect_status 0 seize tokenize -m "$M" --jsonl --input "$FIX/tokens.jsonl"
"$PYTHON" - "$FIX/tokens.jsonl" "$TMP/out" <<'EOF' || fail "fixture ids differ"
import json, sys
want = [json.loads(l)["ids"] for l in open(sys.argv[1]) if l.strip()]
got = [json.loads(l) for l in open(sys.argv[2])]
assert len(want) == len(got) == 73, (len(want), len(got))
bad = [i for i, (a, b) in enumerate(zip(want, got)) if a != b]
assert not bad, "cases %s differ" % bad
EOF

# Plain lines (LF and CRLF, an empty line, invalid UTF-8), from standard input, context 8
printf 'a dog with a hat\r\n\nthe dog\xff\n' >"$TMP/lines.txt"
seize tokenize -m "$M" -n 8 --input - <"$TMP/lines.txt" >"$TMP/out" || fail "stdin input failed"
[ "$(wc -l <"$TMP/out")" -eq 3 ] || fail "expected 3 lines from 3 input lines"
[ "$(sed -n 1p "$TMP/out")" = "[49406, 320, 1929, 593, 320, 3801, 49407, 0]" ] || fail "CRLF line: $(sed -n 1p "$TMP/out")"
[ "$(sed -n 2p "$TMP/out")" = "[49406, 49407, 0, 0, 0, 0, 0, 0]" ] || fail "empty line"
seize tokenize --clean --input "$TMP/lines.txt" >"$TMP/clean" || fail "--clean failed"
[ "$(sed -n 3p "$TMP/clean")" = '"the dog�"' ] || fail "--clean of invalid UTF-8: $(sed -n 3p "$TMP/clean")"

# Differential check against the Python reference on awkward texts
"$PYTHON" - >"$TMP/cases.jsonl" <<'EOF'
import json, random
cases = [
    "A man’s “red” hat", "ΟΔΟΣ ΣΑΣ. İstanbul", "&amp;amp;amp;lt;b&amp;gt; &EACUTE;",
    "<b>&amp;</b>\n&EACUTE; after", "&#x85; &#0; &#1; &#128; &#xD800; &#99999999999; &#59; &#12ab;",
    "&notit; &ampx &amplifier; &lt &gt; &#; &#x; &#X41", "ﬁ ﬂ ﬃ ﬅ ŉ Ǆ ǅ ǆ Ĳ",
    "ＦＵＬＬ　ＷＩＤＴＨ ｶﾞ ￣", "\x1b[31mred\x1b[0m \x1b[x", "a\x00b\x01c\x7fd\u200be\ufeff f\u2028g\x85i\r\nj\rk",
    "\x80\x81\x9f\x91q\x92", "e\u0301 a\u0308\u0304 \u1100\u1161", "don't DON'T 'Ll 'ſ", "x\u0345y",
    "<start_of_text> <END_OF_TEXT> <ſtart_of_text> <|startoftext|> ?'s", "²³ ½ Ⅻ ٣٤ 10,000.5",
    "東京 タワー 🐶 👍🏽 🇫🇷", "a" * 300, "pneumonoultramicroscopicsilicovolcanoconiosis" * 3, "ab" * 70,
]
random.seed(3)
alph = "aAzZ09 '<>&#;xX\u017f\u0130\u03a3\u00e9\u0301\ufb01\uff21\u3000\u2019\u201c\x1b[m\n\r\x85.,!?-_"
for _ in range(150):
    cases.append("".join(random.choice(alph) for _ in range(random.randint(0, 30))))
for c in cases:
    print(json.dumps(c))
EOF
seize tokenize -m "$M" --jsonl --input "$TMP/cases.jsonl" >"$TMP/c_ids" || fail "tokenize of the cases failed"
"$PYTHON" "$TOP/bench/ref_tokenize.py" --vocab "$M/vocab.json" --merges "$M/merges.txt" \
    <"$TMP/cases.jsonl" >"$TMP/p_ids" || fail "reference tokenizer failed"
"$PYTHON" - "$TMP/cases.jsonl" "$TMP/c_ids" "$TMP/p_ids" <<'EOF' || fail "ids differ from the reference"
import json, sys
cases = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
c = [json.loads(l) for l in open(sys.argv[2])]
p = [list(map(int, l.split())) for l in open(sys.argv[3])]
assert len(cases) == len(c) == len(p), (len(cases), len(c), len(p))
bad = [i for i in range(len(c)) if c[i] != p[i]]
for i in bad[:5]:
    print("  %s\n  seize: %s\n  ref:   %s" % (ascii(cases[i]), c[i][:20], p[i][:20]), file=sys.stderr)
assert not bad, "%d of %d differ" % (len(bad), len(c))
EOF

# --- inputs that never end or block: refused; a text over 64 KiB: refused naming its line
mkfifo "$TMP/fifo"
expect_status 1 timeout 20 "$SEIZE_BIN" tokenize -m "$M" --input "$TMP/fifo"
grep -q "FIFO" "$TMP/err" || fail "a FIFO input is not refused"
expect_status 1 timeout 20 "$SEIZE_BIN" tokenize -m "$M" --input /dev/zero
grep -q "/dev/zero" "$TMP/err" || fail "/dev/zero is not refused"
( exec < /dev/zero; timeout 20 "$SEIZE_BIN" tokenize -m "$M" --input - >/dev/null 2>"$TMP/err" ); st=$?
[ $st -eq 1 ] && grep -q "line 1: longer than the limit" "$TMP/err" || fail "an endless standard input is not bounded (exit $st)"
$PYTHON -c 'import sys; sys.stdout.write("short\n" + "x" * 70000 + "\nafter\n")' > "$TMP/long.txt"
expect_status 1 seize tokenize -m "$M" --input "$TMP/long.txt"
grep -q "long.txt' line 2" "$TMP/err" || fail "the over-long text is not named by its line"
$PYTHON -c 'import json; print(json.dumps({"text": "y" * 70000}))' > "$TMP/long.jsonl"
expect_status 1 seize tokenize -m "$M" --input "$TMP/long.jsonl" --jsonl
grep -q "line 1" "$TMP/err" || fail "the over-long JSON text is not named by its line"
$PYTHON -c 'import sys; sys.stdout.write("z" * 65536 + "\n")' > "$TMP/edge.txt"
expect_status 0 seize tokenize -m "$M" --input "$TMP/edge.txt"   # exactly the limit is fine
seize tokenize --help | grep -q "64 KiB" || fail "--help does not state the per-text limit"
exit 0
