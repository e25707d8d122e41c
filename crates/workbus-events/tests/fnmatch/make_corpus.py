#!/usr/bin/env python3.11
"""Writes corpus.json: [pattern, text, expected] triples, each expectation
answered by Python 3.11's `fnmatch.fnmatchcase(text, pattern)`.

Prefect 3.9.1's server matches resource labels with that function (after
stripping one leading `!`, which negates: `prefect.server.events.schemas.events.matches`),
and `LabelPattern` must answer as it does. The Rust test
`label_patterns_match_as_python_fnmatchcase.rs` reads the file.

    python3.11 make_corpus.py                    # rewrites corpus.json beside this script
    python3.11 make_corpus.py --random 200000 --out /tmp/big.json   # a bigger sweep

The hand-written cases come first, then seeded random ones over a small
alphabet of the characters that matter, so the file is the same every run.
"""

import argparse
import fnmatch
import json
import random
import sys
from pathlib import Path

if sys.version_info[:2] != (3, 11):
    sys.exit(f"the corpus records Python 3.11's answers; this is {sys.version}")

# (pattern, [texts]): every text is tried against its pattern.
CASES = [
    # Literals, the empty string, case.
    ("", ["", "a", " "]),
    ("abc", ["abc", "abcd", "ab", "ABC", "Abc", ""]),
    ("ABC", ["abc", "ABC"]),
    ("prefect.work-pool.etl", ["prefect.work-pool.etl", "prefect.work-pool.etlx", "prefect-work-pool-etl"]),
    # Stars, alone and repeated.
    ("*", ["", "a", "*", "a.b/c", "\n", "é"]),
    ("**", ["", "abc"]),
    ("***a***", ["a", "xxa", "axx", "", "b"]),
    ("a*", ["a", "ab", "ba", ""]),
    ("*a", ["a", "ba", "ab", ""]),
    ("a*c", ["ac", "abc", "abbbc", "abbbd", "acc", "acd"]),
    ("a*b*c", ["abc", "aXbYc", "acb", "abcbc", "aabbcc", "ab"]),
    ("a**b", ["ab", "axxb", "axxbx"]),
    ("*a*b*", ["ab", "xaxbx", "ba", "bab"]),
    ("*.*.*", ["prefect.work-pool.x", "a.b", "..", "...", "a.b.c.d"]),
    ("prefect.work-pool.*", ["prefect.work-pool.", "prefect.work-pool.etl", "prefect.work-queue.etl"]),
    ("prefect.*.ready", ["prefect.work-pool.ready", "prefect.work-queue.ready", "prefect.ready"]),
    # Question marks.
    ("?", ["", "a", "ab", "\n", "é", "😀"]),
    ("??", ["a", "ab", "abc", "é😀"]),
    ("a?c", ["abc", "ac", "abbc", "a.c", "a/c"]),
    ("*?", ["", "a", "ab"]),
    ("?*?", ["a", "ab", "abc"]),
    # Classes.
    ("[abc]", ["a", "b", "c", "d", "", "ab", "["]),
    ("[abc]x", ["ax", "bx", "dx"]),
    ("[!abc]", ["a", "d", "!", "", "\n"]),
    ("[!abc]x", ["bx", "dx"]),
    ("[^abc]", ["a", "^", "d"]),
    ("[a^]", ["a", "^", "b"]),
    ("[a-z]", ["a", "m", "z", "A", "-", "é"]),
    ("[A-Za-z0-9]", ["Q", "q", "5", "_", "-"]),
    ("[z-a]", ["a", "m", "z", "-"]),
    ("[!z-a]", ["a", "m", "-", ""]),
    ("[az-ab]", ["a", "b", "m", "z", "-"]),
    ("[a-cb-a]", ["a", "b", "c", "d", "-"]),
    ("[c-b-a]", ["a", "b", "c", "-"]),
    ("[b-ab-a]", ["a", "b", "-"]),
    ("[z-ab-c]", ["a", "b", "c", "z"]),
    ("[a-]", ["a", "-", "b"]),
    ("[-a]", ["a", "-", "b"]),
    ("[!-a]", ["a", "-", "b"]),
    ("[--0]", ["-", ".", "/", "0", "1"]),
    ("[a--]", ["a", "-", "b"]),
    ("[a-b-c]", ["a", "b", "c", "-", "d"]),
    ("[a-c-e]", ["b", "d", "-", "e"]),
    ("[]]", ["]", "a", "[]]", ""]),
    ("[]a]", ["]", "a", "b"]),
    ("[]-a]", ["]", "^", "a", "b"]),
    ("[!]]", ["]", "a", ""]),
    ("[!]a]", ["]", "a", "b"]),
    ("[]", ["[]", "", "]"]),
    ("[!]", ["[!]", "!", "a"]),
    ("[!", ["[!", "!"]),
    ("[]]]", ["]]", "]"]),
    ("[[]", ["[", "]"]),
    ("[[a]", ["[", "a"]),
    ("[[:alpha:]]", ["a]", ":]", "[]", "a", "b]"]),
    ("[a&&b]", ["a", "&", "b"]),
    ("[a||b]", ["|", "a"]),
    ("[a~~b]", ["~", "a"]),
    ("[*]", ["*", "a"]),
    ("[?]", ["?", "a"]),
    ("[.]", [".", "a"]),
    ("[/]", ["/", "a"]),
    # Unclosed brackets are literal.
    ("[", ["[", "", "a"]),
    ("a[", ["a[", "a"]),
    ("[abc", ["[abc", "a"]),
    ("[a-", ["[a-", "a"]),
    ("a[b*", ["a[b", "a[bcd", "ab"]),
    ("*[", ["x[", "["]),
    ("]", ["]", "a"]),
    ("a]b", ["a]b"]),
    ("[a]]", ["a]", "a", "]]"]),
    # Backslashes are literal (no escaping in fnmatch).
    ("\\", ["\\", ""]),
    ("\\*", ["\\", "\\abc", "*", "\\*"]),
    ("a\\b", ["a\\b", "ab"]),
    ("\\?", ["\\a", "?", "a"]),
    ("[\\]", ["\\", "]"]),
    ("[\\]]", ["\\]", "]"]),
    ("[\\-a]", ["\\", "]", "a", "-"]),
    ("[!\\]", ["\\", "a"]),
    # Regex metacharacters are literal.
    ("a.c", ["a.c", "abc"]),
    ("a+", ["a+", "aa"]),
    ("(a|b)", ["(a|b)", "a"]),
    ("$^", ["$^", ""]),
    ("{a,b}", ["{a,b}", "a"]),
    ("a{2}", ["a{2}", "aa"]),
    # Dots and slashes are plain characters.
    (".*", [".", ".hidden", "visible"]),
    ("*/*", ["a/b", "/", "a/b/c", "ab"]),
    ("a/?/c", ["a/b/c", "a//c"]),
    ("**/x", ["x", "/x", "a/b/x"]),
    # Negation is Prefect's, not fnmatch's: a pattern beginning with `!` is literal here.
    ("!", ["!", "", "a"]),
    ("!abc", ["!abc", "abc", "abd"]),
    ("!*", ["!", "!a", "a"]),
    ("!!a", ["!!a", "!a", "a"]),
    # Unicode: code points, not bytes nor graphemes.
    ("é*", ["éa", "é", "e", "É"]),
    ("?", ["é", "e\u0301", "ß"]),
    ("??", ["e\u0301", "é"]),
    ("[é]", ["é", "e\u0301", "e"]),
    ("[α-ω]", ["β", "ω", "Ω", "a"]),
    ("[!α-ω]", ["β", "a"]),
    ("😀*", ["😀", "😀😀", "😁"]),
    ("[😀-😂]", ["😁", "😃"]),
    ("STRASSE", ["straße", "STRASSE"]),
    ("İ", ["i", "İ", "i\u0307"]),
    ("日本*", ["日本語", "日"]),
    # Whitespace and control characters.
    (" ", [" ", "", "\t"]),
    ("*\n", ["a\n", "a"]),
    ("a?b", ["a\nb", "a\0b"]),
    ("\0", ["\0", ""]),
    # Backtracking that a naive matcher gets wrong or slow.
    ("*a*a*a*a*b", ["a" * 30, "a" * 30 + "b"]),
    ("a*a*a*a*a*a*a*", ["a" * 6, "a" * 7, "a" * 40]),
    ("*ab", ["aab", "abab", "aba"]),
    ("*[ab]", ["xa", "xb", "xc"]),
    ("*?x", ["x", "ax", "xx"]),
]

# The characters that make a pattern interesting, for the random sweep.
PATTERN_ALPHABET = ["a", "b", "c", "-", "!", "^", "[", "]", "*", "?", "\\", "é", "z"]
TEXT_ALPHABET = ["a", "b", "c", "-", "!", "^", "[", "]", "*", "?", "\\", "é", "z"]


def near(pattern, rng):
    """A text shaped like the pattern, so that about half the random cases match."""
    out = []
    for c in pattern:
        if c == "*":
            out.extend(rng.choice(TEXT_ALPHABET) for _ in range(rng.randint(0, 2)))
        elif c == "?":
            out.append(rng.choice(TEXT_ALPHABET))
        elif c in "[]" and rng.random() < 0.5:
            continue
        else:
            out.append(c)
    return "".join(out)


def random_cases(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pattern = "".join(rng.choice(PATTERN_ALPHABET) for _ in range(rng.randint(0, 7)))
        if rng.random() < 0.5:
            text = "".join(rng.choice(TEXT_ALPHABET) for _ in range(rng.randint(0, 5)))
        else:
            text = near(pattern, rng)
        out.append((pattern, text))
    return out


def main():
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=3000, help="random cases after the hand-written ones")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, default=here / "corpus.json")
    args = parser.parse_args()

    pairs = [(p, t) for p, texts in CASES for t in texts]
    pairs += random_cases(args.random, args.seed)
    seen = set()
    rows = []
    for pattern, text in pairs:
        if (pattern, text) in seen:
            continue
        seen.add((pattern, text))
        rows.append([pattern, text, fnmatch.fnmatchcase(text, pattern)])

    with open(args.out, "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(row, ensure_ascii=False) for row in rows))
        f.write("\n]\n")
    print(f"{len(rows)} cases ({sum(r[2] for r in rows)} matching) -> {args.out}")


if __name__ == "__main__":
    main()
