use super::Pattern;
use crate::test_rng::XorShift;

fn matches(pattern: &str, text: &str) -> bool {
    match Pattern::new(pattern) {
        Ok(p) => p.is_match(text),
        Err(e) => panic!("{pattern:?} refused: {e}"),
    }
}

fn refusal(pattern: &str) -> String {
    match Pattern::new(pattern) {
        Ok(p) => panic!("{pattern:?} accepted: {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn matches_what_rust_regex_syntax_means() {
    let cases: &[(&str, &str, bool)] = &[
        (r"^v[0-9]+$", "v12", true),
        (r"^v[0-9]+$", "v12\n", false),
        (r"@example\.com$", "ann@example.com", true),
        (r"@example\.com$", "ann@exampleXcom", false),
        (r"(?i)^ANN@", "ann@x", true),
        (r"(?i:a)b", "Ab", true),
        (r"(?i:a)b", "AB", false),
        (r"a(?i)b", "aB", true),
        (r"a(?i)b", "AB", false),
        (r"(?i)a(?-i)b", "Ab", true),
        (r"(?i)a(?-i)b", "AB", false),
        (r"(?i)[^a]", "A", false),
        (r"(?i)[b-c]", "C", true),
        (r"(?x) a b # comment", "ab", true),
        (r"(?x) a\ b", "a b", true),
        (r"(?x)[a b]", " ", false),
        (r"(?U)a+", "a", true),
        (r"\Aab\z", "ab", true),
        (r"\Aab\z", "xab", false),
        (r"(?P<d>a)(?<e>b)", "ab", true),
        (r"[[:digit:]]+", "x7", true),
        (r"[[:^alpha:]]", "ab", false),
        (r"\x{40}\x41\u0042\U00000043\u{1F600}", "@ABC😀", true),
        (r"a]", "a]", true),
        (r"a}", "a}", true),
        (r"\-\<\>", "-<>", false),
        (r"[]a]", "]", true),
        (r"[^]a]", "]", false),
        (r"[a-]", "-", true),
        (r"[\]\\]", "\\", true),
        (r"a.c", "a\nc", false),
        (r"(?s)a.c", "a\nc", true),
        (r"a.c", "a\rc", true),
        (r"a.c", "aéc", true),
        (r"^b", "a\nb", false),
        (r"(?m)^b$", "a\nb\nc", true),
        (r"(?m)a$", "a\r\n", false),
        (r"\bcat\b", "a cat!", true),
        (r"\bcat\b", "cats", false),
        (r"\Bat", "cat", true),
        (r"\<cat\>", "(cat)", true),
        (r"\<at", "cat", false),
        (r"\d", "٣", false),
        (r"\w", "δ", false),
        (r"\s", "\u{a0}", false),
        (r"\s", "\u{b}", true),
        (r"\D\W\S", "δδδ", true),
        (r"a{2}", "a", false),
        (r"a{2,}", "aaa", true),
        (r"^a{ 1 , 2 }$", "aa", true),
        (r"^a{1,2}$", "aaa", false),
        (r"^(ab|cd)*$", "abcdab", true),
        (r"^(ab|cd)*$", "abc", false),
        (r"a**", "", true),
        (r"^*$", "", true),
        (r"x|", "", true),
        (r"", "anything", true),
        (r"()", "", true),
        (r"é+", "ééé", true),
        (r"[α-ω]", "λ", true),
        // Class items as `regex` reads them.
        (r"[]-a]", "-", true),
        (r"[]-a]", "^", false),
        (r"[^]-a]", "-", false),
        (r"[^]-a]", "^", true),
        (r"[--a]", "-", true),
        (r"[--a]", "+", false),
        (r"[^--]", "-", false),
        (r"[---]", "-", true),
        (r"[a-]]", "-]", true),
        (r"[a-]]", "-", false),
        (r"[!-[]", "[", true),
        (r"(?x)[a - c]", "b", true),
        (r"(?x)[a - c]", " ", false),
        (r"(?x)[ ^a]", "b", true),
        (
            r"(?x)[a#b
]",
            "b",
            false,
        ),
        (r"(?x)[a- ]", "-", true),
        (r"(?i)[[:^upper:]]", "a", false),
        (r"(?i)[[:^upper:]]", "1", true),
        (r"(?i)[^[:^lower:]]", "C", true),
        // Verbose spaces, counted repetitions and escapes.
        (r"(?x)( ?:a)", "a", true),
        (
            r"(?x)a{2 #c
}",
            "aa",
            true,
        ),
        (r"(?x)a{ 1 0 }", "aaaaaaaaa", false),
        (r"(?x)a{2, }", "aa", true),
        (r"(?x)\x{4 1}\x 4 2", "AB", true),
        (r"\x{000000041}", "A", true),
        (r"^\b{2}a", "a", true),
        (r"\b{1,}a", "ba", false),
        (r"\b{start}cat\b{end}", "a cat", true),
        (r"\b{start}at", "cat", false),
        (r"\b{start-half}at", "-at", true),
        (r"\b{start-half}at", "cat", false),
        (r"at\b{end-half}", "at-", true),
        (r"at\b{end-half}", "ate", false),
        // `regex`'s look-ahead for a range's `-` reads into a `(?x)` comment.
        ("(?x)[a-#-\nz]", "b", false),
        ("(?x)[a-#-\nz]", "-", true),
        ("(?x)[!-#b\n]]", "A", true),
        (r"(?x)a{1} ?", "", false),
        (r"(?x)a{1,} ?b", "b", false),
        (r"(?x)a* ?b", "b", true),
    ];
    for &(pattern, text, expected) in cases {
        assert_eq!(matches(pattern, text), expected, "{pattern:?} on {text:?}");
    }
}

#[test]
fn refuses_what_it_cannot_mean_naming_the_construct() {
    let cases: &[(&str, &str)] = &[
        (
            r"\pL",
            r"Unicode classes `\p{…}` are not supported at character 2",
        ),
        (r"\p{Greek}", "Unicode classes"),
        (r"\PL", "Unicode classes"),
        (r"[a-z&&[^b]]", "class set operations"),
        (r"[a[b]]", "nested classes"),
        (r"[a-z&&b]", "class set operations"),
        (r"[a--b]", "class set operations"),
        (r"[a-z0-9+--]", "class set operations"),
        (r"[#--z]", "class set operations"),
        (r"[+--]", "class set operations"),
        (r"(?ii)a", "flag set twice"),
        (r"(?i-i)a", "flag set twice"),
        (r"(?P<n>a)(?<n>b)", "group name used twice"),
        (r"a{2, }", "expects a decimal number"),
        (r"\b{middle}", "unknown word boundary"),
        (r"\b{start", "not closed"),
        (r"\x{}", "invalid hexadecimal"),
        (r"\x{100000000}", "not a Unicode scalar"),
        ("(?x)[?-#a\n]", "unclosed class"),
        (r"[a-z--b]", "class set operations"),
        (r"[a~~b]", "class set operations"),
        (r"(?=a)", "look-ahead"),
        (r"(?<!a)", "look-behind"),
        (r"(a)\1", "unknown escape at character 5"),
        (r"(?u)a", "flags `u` and `R`"),
        (r"(?q)a", "unknown flag"),
        (r"(?)a", "empty flag group"),
        (r"(?i-)a", "empty flag group"),
        (r"a{1001}", "above 1000"),
        (r"a{3,2}", "m smaller than n"),
        (r"a{,3}", "expects a decimal number"),
        (r"a{2", "not closed"),
        (r"*a", "without anything to repeat at character 1"),
        (r"a|+", "without anything to repeat"),
        (r"(a", "unclosed group"),
        (r"a)", "unopened group"),
        (r"[a", "unclosed class"),
        (r"[b-a]", "out of order"),
        (r"[\d-z]", "cannot start at a class"),
        (r"[a-\d]", "cannot end in a class"),
        (r"[[:alfa:]]", "unknown POSIX class"),
        (r"\x4", "invalid hexadecimal"),
        (r"\x{110000}", "not a Unicode scalar"),
        (r"\u{D800}", "not a Unicode scalar"),
        ("a\\", "lone"),
        (r"(?P=a)", "named group"),
        (r"(?<1a>x)", "group name"),
        (r"(a{1000}){1000}", "pattern too large"),
        (r"((((){1000}){1000}){1000}){1000}", "pattern too large"),
    ];
    for &(pattern, expected) in cases {
        let e = refusal(pattern);
        assert!(
            e.contains(expected),
            "{pattern:?}: {e:?} lacks {expected:?}"
        );
    }
    // Many named groups compile in linear time (a list of names made this take seconds).
    let named: String = (0..100_000).map(|i| format!("(?<n{i}>)")).collect();
    assert!(matches(&named, ""));
    let twice = format!("{named}(?<n99999>)");
    assert!(refusal(&twice).contains("used twice"));
    let deep = format!("{}a{}", "(".repeat(33), ")".repeat(33));
    assert!(refusal(&deep).contains("nested more than 32"));
    let ok = format!("{}a{}", "(".repeat(32), ")".repeat(32));
    assert!(matches(&ok, "a"));
    assert!(refusal(&format!("a{}", "*".repeat(100_000))).contains("more than 3 repetition"));
    // The deepest tree the limits allow compiles and runs (recursively) within a small stack.
    let deepest = format!("^{}a***{}$", "(".repeat(32), ")***".repeat(32));
    let on_small_stack = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || matches(&deepest, "aaa") && !matches(&deepest, "b"))
        .expect("thread");
    assert_eq!(on_small_stack.join().ok(), Some(true));
}

/// The search visits each state at most once per position, however ambiguous the pattern: a
/// backtracking engine needs 2^n steps for `(a|a)*b` on n `a`s.
#[test]
fn search_steps_grow_linearly_with_the_text() {
    let nested = format!("^(?:{}a{}|b)*c", "(".repeat(31), ")".repeat(31));
    for pattern in [
        r"(a|a)*b",
        r"^([a-z0-9]+[._]?)+@example\.com$",
        r"(a*)*$x",
        r"(\w+\s?)+$!",
        nested.as_str(),
    ] {
        let p = Pattern::new(pattern).expect(pattern);
        let states = p.program.insts.len() as u64;
        let steps = |n: usize| {
            let text = format!("{}{}", "a".repeat(n), "@example.org");
            let (matched, steps) = p.search(&text);
            assert!(!matched, "{pattern:?}");
            assert!(
                steps <= states * (n as u64 + 13),
                "{pattern:?}: {steps} steps"
            );
            steps
        };
        let (short, long) = (steps(1_000), steps(10_000));
        let ratio = long as f64 / short as f64;
        assert!(
            (5.0..=11.0).contains(&ratio),
            "{pattern:?}: x10 text, x{ratio} steps"
        );
    }
}

/// The largest pattern on a long text stops at the step budget: no match, on every platform,
/// instead of seconds of work; the same pattern still matches a short text.
#[test]
fn a_search_stops_at_the_step_budget() {
    let p = Pattern::new(r"(?:.{0,999}){10}~").expect("pattern");
    assert!(p.program.insts.len() > 19_000, "{}", p.program.insts.len());
    let long = format!("{}~", "a".repeat(100_000));
    let (matched, steps) = p.search(&long);
    assert!(!matched);
    let states = p.program.insts.len() as u64;
    assert!(
        (super::vm::MAX_STEPS..=super::vm::MAX_STEPS + 2 * states).contains(&steps),
        "{steps}"
    );
    assert!(p.is_match("aaa~"));
}

/// A pattern anchored at the start stops once no thread is alive.
#[test]
fn anchored_search_stops_early() {
    let p = Pattern::new("^ab").expect("pattern");
    let (matched, steps) = p.search(&"x".repeat(100_000));
    assert!(!matched);
    assert!(steps < 10, "{steps}");
}

/// Random patterns over the syntax both engines share, on random texts: this engine and the
/// `regex` crate agree on every one. Perl classes and `\b` are spelled out as ASCII for
/// `regex`, and the texts avoid the characters its Unicode case folding adds (K, ſ, É). The
/// reference answer is `find`: regex 1.13's `is_match` says no to `é|(?-u:\B)` on "aé0"
/// while `find` finds the `é` (an ASCII `\B` inside a character's bytes confuses it).
#[test]
fn agrees_with_the_regex_crate_on_random_patterns() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut compared = 0;
    for _ in 0..4_000 {
        let (ours, reference) = pattern(&mut rng, 3);
        let flags = ["", "(?i)", "(?m)", "(?s)", "(?ims)", "(?x)"][rng.below(6) as usize];
        let (ours, reference) = (format!("{flags}{ours}"), format!("{flags}{reference}"));
        let Ok(reference_re) = regex::Regex::new(&reference) else {
            panic!("reference refused {reference:?}");
        };
        let ours_re = Pattern::new(&ours).unwrap_or_else(|e| panic!("{ours:?} refused: {e}"));
        for _ in 0..25 {
            let len = rng.below(9) as usize;
            let text: String = (0..len)
                .map(|_| {
                    [
                        'a', 'b', 'c', 'A', 'B', '-', '.', ' ', '\n', 'é', '_', '0', '7',
                    ][rng.below(13) as usize]
                })
                .collect();
            assert_eq!(
                ours_re.is_match(&text),
                reference_re.find(&text).is_some(),
                "{ours:?} (reference {reference:?}) on {text:?}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 100_000);
}

/// A random pattern as (our spelling, the `regex` crate's spelling).
fn pattern(rng: &mut XorShift, depth: u32) -> (String, String) {
    let choice = if depth == 0 {
        rng.below(4) as usize
    } else {
        rng.below(9) as usize
    };
    match choice {
        0 | 1 => {
            let (a, b) = [
                ("a", "a"),
                ("b", "b"),
                ("c", "c"),
                ("A", "A"),
                (r"\.", r"\."),
                ("-", "-"),
                ("é", "é"),
                (".", "."),
                (r"\n", r"\n"),
                (r"\x41", r"\x41"),
            ][rng.below(10) as usize];
            (a.to_string(), b.to_string())
        }
        2 => {
            let (a, b) = [
                ("[a-c]", "[a-c]"),
                ("[^b]", "[^b]"),
                (r"[a\-]", r"[a\-]"),
                ("[[:upper:]_]", "[[:upper:]_]"),
                (r"\d", "[0-9]"),
                (r"\w", "[0-9A-Za-z_]"),
                (r"\s", r"[\t\n\x0B\x0C\r\x20]"),
                (r"\W", "[^0-9A-Za-z_]"),
                (r"[^\d\s]", r"[^0-9\t\n\x0B\x0C\r\x20]"),
                ("[]-a]", "[]-a]"),
                ("[^--a]", "[^--a]"),
                ("[[:^upper:]]", "[[:^upper:]]"),
                ("[^[:^lower:]b]", "[^[:^lower:]b]"),
                ("[a - c#x\n]", "[a - c#x\n]"),
            ][rng.below(14) as usize];
            (a.to_string(), b.to_string())
        }
        3 => {
            let (a, b) = [
                ("^", "^"),
                ("$", "$"),
                (r"\b", r"(?-u:\b)"),
                (r"\B", r"(?-u:\B)"),
                (r"\A", r"\A"),
                (r"\z", r"\z"),
            ][rng.below(6) as usize];
            (a.to_string(), b.to_string())
        }
        4 | 5 => {
            let n = 2 + rng.below(2) as usize;
            let parts: Vec<_> = (0..n).map(|_| pattern(rng, depth - 1)).collect();
            (
                parts.iter().map(|p| p.0.as_str()).collect(),
                parts.iter().map(|p| p.1.as_str()).collect(),
            )
        }
        6 => {
            let (a1, b1) = pattern(rng, depth - 1);
            let (a2, b2) = pattern(rng, depth - 1);
            (format!("(?:{a1}|{a2})"), format!("(?:{b1}|{b2})"))
        }
        7 => {
            let (a, b) = pattern(rng, depth - 1);
            let op = ["*", "+", "?", "{2}", "{0,2}", "{1,}", "*?", "{1,3}?"][rng.below(8) as usize];
            (format!("({a}){op}"), format!("({b}){op}"))
        }
        _ => {
            let (a, b) = pattern(rng, depth - 1);
            // Capture names must be unique in a pattern: a random suffix.
            let name = rng.below(1 << 30) as usize;
            let flag = match rng.below(6) as usize {
                0 => "(?i:".to_string(),
                1 => "(?-i:".to_string(),
                2 => "(?s:".to_string(),
                3 => "(?m:".to_string(),
                4 => format!("(?P<g{name}>"),
                _ => format!("(?<h{name}>"),
            };
            (format!("{flag}{a})"), format!("{flag}{b})"))
        }
    }
}

/// Random sequences of syntax tokens, most of them invalid or odd: where this engine accepts a
/// pattern, the `regex` crate accepts it too and both agree on ASCII texts (where `regex`'s
/// Unicode classes and ASCII ones coincide); where only `regex` accepts it, this engine's
/// refusal names a construct it does not support, never a mistake in the pattern. A quarter of
/// the patterns are single classes, where `(?x)` spacing and comments meet `-`, `]` and `^`.
#[test]
fn reads_odd_syntax_as_the_regex_crate_does() {
    const TOKENS: &[&str] = &[
        "[",
        "]",
        "^",
        "-",
        "--",
        "a",
        "c",
        "z",
        "A",
        "0",
        "9",
        "+",
        "#",
        " ",
        "\n",
        "\\",
        "(",
        ")",
        "?",
        "*",
        "{",
        "}",
        ",",
        "2",
        "|",
        ".",
        "$",
        "&&",
        "~~",
        ":",
        "x",
        "b",
        "(?",
        "(?x)",
        "(?i)",
        "(?-i)",
        "(?m)",
        "(?x:",
        "[:alpha:]",
        "[:^upper:]",
        "[:^lower:]",
        "[:digit:]",
        "[:foo:]",
        r"\d",
        r"\W",
        r"\b",
        r"\x",
        r"\x{",
        "41",
        "000000041",
        r"\-",
        r"\]",
        r"\[",
        "start",
        "end-half",
        "{2}",
        "{1,}",
        "{2, }",
        "#c\n",
        "(?P<n>",
        "(?<n>",
        "i",
        "-i",
        " ?",
        "#-",
    ];
    let supported_refusals = [
        "not supported",
        "more than 3 repetition",
        "above 1000",
        "nested more than 32",
        "too large",
        "unknown POSIX class",
    ];
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let (mut both, mut only_regex) = (0, 0);
    // Class items where `(?x)` spacing and comments meet `-`, `]` and `^`.
    const CLASS_TOKENS: &[&str] = &[
        "a",
        "z",
        "!",
        "?",
        "-",
        "#",
        "\n",
        " ",
        "]",
        "^",
        r"\-",
        "[:alpha:]",
        "#-",
        "b",
    ];
    for round in 0..80_000 {
        let pattern: String = if round % 4 == 3 {
            let flags = ["", "(?x)", "(?ix)"][rng.below(3) as usize];
            format!("{flags}[{}]", soup(&mut rng, CLASS_TOKENS, 7))
        } else {
            soup(&mut rng, TOKENS, 10)
        };
        let reference = regex::Regex::new(&pattern);
        match (Pattern::new(&pattern), reference) {
            (Ok(ours), Ok(reference)) => {
                both += 1;
                for _ in 0..12 {
                    let len = rng.below(7) as usize;
                    let text: String = (0..len)
                        .map(|_| b"aczAB-]^ \n:#_9{}2,"[rng.below(18) as usize] as char)
                        .collect();
                    assert_eq!(
                        ours.is_match(&text),
                        reference.find(&text).is_some(),
                        "{pattern:?} on {text:?}"
                    );
                }
            }
            (Ok(_), Err(e)) => panic!("{pattern:?} accepted; regex refuses it: {e}"),
            (Err(e), Ok(_)) => {
                only_regex += 1;
                assert!(
                    supported_refusals.iter().any(|s| e.contains(s)),
                    "{pattern:?} refused ({e}); regex accepts it"
                );
            }
            (Err(_), Err(_)) => {}
        }
    }
    assert!(both > 10_000 && only_regex > 5, "{both} {only_regex}");
}

/// One to `most` tokens drawn from `tokens`, joined.
fn soup(rng: &mut XorShift, tokens: &[&str], most: u64) -> String {
    let n = 1 + rng.below(most);
    (0..n)
        .map(|_| tokens[rng.below(tokens.len() as u64) as usize])
        .collect()
}
