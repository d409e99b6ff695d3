//! Pattern text → syntax tree. The syntax is Rust `regex`'s, minus what only a Unicode table
//! or a backtracking engine could give (see the module above for the list).

/// One inclusive range of characters.
pub(super) type Range = (char, char);

/// A zero-width test at a position, given the characters either side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Look {
    /// `^`, `\A`: the start of the text.
    Start,
    /// `$`, `\z`: the end of the text.
    End,
    /// `(?m)^`: the start of the text or just after `\n`.
    LineStart,
    /// `(?m)$`: the end of the text or just before `\n`.
    LineEnd,
    /// `\b`: a word character on exactly one side.
    Word,
    /// `\B`: a word character on both sides or neither.
    NotWord,
    /// `\<`: no word character before, one after.
    WordStart,
    /// `\>`: a word character before, none after.
    WordEnd,
    /// `\b{start-half}`: no word character before.
    WordStartHalf,
    /// `\b{end-half}`: no word character after.
    WordEndHalf,
}

impl Look {
    /// Whether the test holds between `before` and `after` (`None`: an end of the text).
    pub(super) fn holds(self, before: Option<char>, after: Option<char>) -> bool {
        let (b, a) = (before.is_some_and(is_word), after.is_some_and(is_word));
        match self {
            Look::Start => before.is_none(),
            Look::End => after.is_none(),
            Look::LineStart => matches!(before, None | Some('\n')),
            Look::LineEnd => matches!(after, None | Some('\n')),
            Look::Word => b != a,
            Look::NotWord => b == a,
            Look::WordStart => !b && a,
            Look::WordEnd => b && !a,
            Look::WordStartHalf => !b,
            Look::WordEndHalf => !a,
        }
    }
}

/// `\w`: ASCII letters, digits and `_`.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The syntax tree of a pattern.
#[derive(Debug)]
pub(super) enum Node {
    /// Matches the empty string.
    Empty,
    /// One character.
    Char(char),
    /// One character of class `n` (an index into [`Parsed::classes`]).
    Class(u32),
    /// A zero-width test.
    Look(Look),
    /// Each in turn.
    Concat(Vec<Node>),
    /// Any one of them.
    Alt(Vec<Node>),
    /// `node` at least `min` and at most `max` (`None`: unbounded) times.
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

/// A parsed pattern: its tree and the character classes it refers to.
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) node: Node,
    /// Sorted, non-overlapping, non-adjacent ranges of each class.
    pub(super) classes: Vec<Vec<Range>>,
}

/// Deepest nesting of groups: bounds the parser's and compiler's recursion, so that compiling
/// the deepest pattern fits a 256 KB thread stack even unoptimised (iOS gives secondary threads
/// 512 KB). Real patterns nest a few levels.
const MAX_DEPTH: u32 = 32;
/// Most repetition operators on one atom (`a**` is valid): with [`MAX_DEPTH`], bounds the depth
/// of the tree, which the compiler (and dropping it) walks recursively.
const MAX_STACKED: usize = 3;
/// Largest counted repetition (`{n,m}`).
const MAX_REPEAT: u32 = 1000;

const DIGIT: &[Range] = &[('0', '9')];
const WORD: &[Range] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
const SPACE: &[Range] = &[('\t', '\r'), (' ', ' ')];

/// The flags in force: `(?imsxU)`.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    case_insensitive: bool,
    multi_line: bool,
    dot_all: bool,
    verbose: bool,
}

/// Parses `pattern`, or says what is wrong and at which character (counted from 1).
pub(super) fn parse(pattern: &str) -> Result<Parsed, String> {
    let mut p = Parser {
        text: pattern.chars().collect(),
        pos: 0,
        flags: Flags::default(),
        classes: Vec::new(),
        names: Default::default(),
    };
    let node = p.alternation(0)?;
    if p.pos < p.text.len() {
        return Err(p.error("unopened group: `)` without `(`"));
    }
    Ok(Parsed {
        node,
        classes: p.classes,
    })
}

/// A set of characters being built: ranges in any order until [`canonical`].
type Set = Vec<Range>;

struct Parser {
    text: Vec<char>,
    pos: usize,
    flags: Flags,
    classes: Vec<Vec<Range>>,
    /// Capture group names so far: `regex` refuses a name used twice. A hash set: a pattern of
    /// 100,000 named groups took seconds with a list.
    names: crate::table::Keys<String>,
}

impl Parser {
    fn error(&self, what: &str) -> String {
        format!("{what} at character {}", self.pos + 1)
    }

    fn peek(&self) -> Option<char> {
        self.text.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.text.get(self.pos + ahead).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Skips what `(?x)` makes insignificant: white space and `#` comments.
    fn skip_verbose(&mut self) {
        while self.flags.verbose {
            match self.peek() {
                Some(c) if c.is_whitespace() => self.pos += 1,
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// The character after the current one, past white space under `(?x)`, exactly as
    /// `regex`'s look-ahead sees it: a `#` is skipped, but so is not the comment it starts,
    /// whose first other character is the answer (`(?x)[a-#-⏎z]` is `a`, `-`, `z`).
    fn peek_after_verbose(&self) -> Option<char> {
        let rest = self.text.get(self.pos + 1..).unwrap_or_default();
        if !self.flags.verbose {
            return rest.first().copied();
        }
        let mut in_comment = false;
        for &c in rest {
            if c.is_whitespace() {
                continue;
            }
            if !in_comment && c == '#' {
                in_comment = true;
                continue;
            }
            return Some(c);
        }
        rest.first().copied()
    }

    /// Skips white space, and under `(?x)` comments too.
    fn skip_spaces_and_verbose(&mut self) {
        self.skip_spaces();
        // Under `(?x)` this also skips comments and the spaces after them.
        self.skip_verbose();
    }

    /// `a|b|…` up to the end or the `)` closing a group at `depth`.
    fn alternation(&mut self, depth: u32) -> Result<Node, String> {
        let mut alternatives = Vec::new();
        let mut sequence = Vec::new();
        loop {
            self.skip_verbose();
            match self.peek() {
                None => break,
                Some(')') if depth > 0 => break,
                Some(')') => return Err(self.error("unopened group: `)` without `(`")),
                Some('|') => {
                    self.pos += 1;
                    alternatives.push(concat(std::mem::take(&mut sequence)));
                }
                Some(_) => {
                    if let Some(atom) = self.atom(depth)? {
                        let atom = self.repetitions(atom)?;
                        sequence.push(atom);
                    }
                }
            }
        }
        alternatives.push(concat(sequence));
        Ok(if alternatives.len() == 1 {
            alternatives.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(alternatives)
        })
    }

    /// One atom, or `None` for a flag setting `(?i)` (which cannot be repeated).
    fn atom(&mut self, depth: u32) -> Result<Option<Node>, String> {
        let Some(c) = self.peek() else {
            return Ok(Some(Node::Empty));
        };
        self.pos += 1;
        Ok(Some(match c {
            '(' => return self.group(depth),
            '[' => self.class()?,
            '.' => {
                let set = if self.flags.dot_all {
                    vec![('\0', char::MAX)]
                } else {
                    vec![('\0', '\t'), ('\u{b}', char::MAX)]
                };
                self.class_node(set)
            }
            '^' if self.flags.multi_line => Node::Look(Look::LineStart),
            '^' => Node::Look(Look::Start),
            '$' if self.flags.multi_line => Node::Look(Look::LineEnd),
            '$' => Node::Look(Look::End),
            '\\' => self.escape()?,
            '*' | '+' | '?' | '{' => {
                self.pos -= 1;
                return Err(self.error("repetition operator without anything to repeat"));
            }
            c => self.literal(c),
        }))
    }

    /// A literal character; under `(?i)` an ASCII letter matches either case.
    fn literal(&mut self, c: char) -> Node {
        if self.flags.case_insensitive && c.is_ascii_alphabetic() {
            self.class_node(vec![(c, c)])
        } else {
            Node::Char(c)
        }
    }

    /// Follows `atom` with its `*`, `+`, `?` or `{n,m}` (optionally lazy: `*?`; stacked: `a**`).
    fn repetitions(&mut self, mut atom: Node) -> Result<Node, String> {
        for stacked in 0.. {
            self.skip_verbose();
            let Some(c) = self.peek() else {
                return Ok(atom);
            };
            let (min, max) = match c {
                '*' => (0, None),
                '+' => (1, None),
                '?' => (0, Some(1)),
                '{' => (0, Some(0)),
                _ => return Ok(atom),
            };
            if stacked == MAX_STACKED {
                return Err(self.error("more than 3 repetition operators in a row"));
            }
            self.pos += 1;
            let (min, max) = if c == '{' {
                let counted = self.counted()?;
                // `regex` allows `(?x)` spacing before the `?` of `{n}?`, not of `*?`.
                self.skip_verbose();
                counted
            } else {
                (min, max)
            };
            // Laziness changes which match is found, never whether one is.
            self.eat('?');
            atom = Node::Repeat {
                node: Box::new(atom),
                min,
                max,
            };
        }
        Ok(atom)
    }

    /// The `n}`, `n,}` or `n,m}` after `{` (spaces allowed around the numbers, as in `regex`).
    fn counted(&mut self) -> Result<(u32, Option<u32>), String> {
        self.skip_verbose();
        let min = self.number()?;
        let max = if self.eat(',') {
            self.skip_verbose();
            if self.peek() == Some('}') {
                None
            } else {
                Some(self.number()?)
            }
        } else {
            Some(min)
        };
        if !self.eat('}') {
            return Err(self.error("counted repetition not closed by `}`"));
        }
        if max.is_some_and(|max| max < min) {
            return Err(self.error("counted repetition {n,m} with m smaller than n"));
        }
        Ok((min, max))
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn number(&mut self) -> Result<u32, String> {
        self.skip_spaces();
        let start = self.pos;
        let mut n: u32 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            self.pos += 1;
            n = n.saturating_mul(10).saturating_add(d);
            // `(?x)` allows spaces between the digits, too.
            self.skip_verbose();
        }
        if self.pos == start {
            return Err(self.error("counted repetition expects a decimal number"));
        }
        if n > MAX_REPEAT {
            return Err(self.error("counted repetition above 1000"));
        }
        self.skip_spaces_and_verbose();
        Ok(n)
    }

    /// After `(`: a group, a scoped-flags group `(?i:…)`, or a flag setting `(?i)` (`None`).
    fn group(&mut self, depth: u32) -> Result<Option<Node>, String> {
        if depth >= MAX_DEPTH {
            return Err(self.error("groups nested more than 32 deep"));
        }
        let outer = self.flags;
        self.skip_verbose();
        if self.eat('?') {
            if self.eat('P') && self.peek() != Some('<') {
                return Err(self.error("`(?P` must start a named group `(?P<name>…)`"));
            }
            match self.peek() {
                Some('<') if matches!(self.peek_at(1), Some('=' | '!')) => {
                    return Err(self.error("look-behind is not supported"));
                }
                Some('=' | '!') => return Err(self.error("look-ahead is not supported")),
                Some('<') => {
                    self.pos += 1;
                    self.group_name()?;
                }
                Some(':') => self.pos += 1,
                _ => {
                    if self.flag_setting()? {
                        // `(?i)`: applies to the rest of the enclosing group.
                        return Ok(None);
                    }
                }
            }
        }
        let node = self.alternation(depth + 1)?;
        if !self.eat(')') {
            return Err(self.error("unclosed group: `(` without `)`"));
        }
        self.flags = outer;
        Ok(Some(node))
    }

    /// A capture group's name up to `>`: a letter or `_`, then letters, digits, `_`, `.`, `[`, `]`.
    fn group_name(&mut self) -> Result<(), String> {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| c != '>') {
            let ok = c == '_'
                || c.is_alphabetic()
                || (self.pos > start && (c.is_numeric() || matches!(c, '.' | '[' | ']')));
            if !ok {
                return Err(self.error("invalid character in a group name"));
            }
            self.pos += 1;
        }
        if self.pos == start || !self.eat('>') {
            return Err(self.error("a group name must be non-empty and end with `>`"));
        }
        let name: String = self.text[start..self.pos - 1].iter().collect();
        if !self.names.insert(name).1 {
            self.pos = start;
            return Err(self.error("a group name used twice"));
        }
        Ok(())
    }

    /// Reads `flags)` (true: a setting) or `flags:` (false: a group follows) and applies them.
    fn flag_setting(&mut self) -> Result<bool, String> {
        let mut on = true;
        // One bit per flag seen: `regex` refuses `(?ii)` and `(?i-i)`.
        let mut seen = 0u8;
        let mut dangling_dash = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unclosed flag group"));
            };
            self.pos += 1;
            match c {
                ')' | ':' if seen != 0 && !dangling_dash => return Ok(c == ')'),
                ')' | ':' => return Err(self.error("empty flag group or `-` without a flag")),
                '-' if on => {
                    on = false;
                    dangling_dash = true;
                    continue;
                }
                'i' => self.flags.case_insensitive = on,
                'm' => self.flags.multi_line = on,
                's' => self.flags.dot_all = on,
                'x' => self.flags.verbose = on,
                // Greediness swaps which match is found, never whether one is.
                'U' => {}
                'u' | 'R' => {
                    self.pos -= 1;
                    return Err(self.error("flags `u` and `R` are not supported"));
                }
                _ => {
                    self.pos -= 1;
                    return Err(self.error("unknown flag (flags are i, m, s, x, U)"));
                }
            }
            let bit = match c {
                'i' => 1,
                'm' => 2,
                's' => 4,
                'x' => 8,
                _ => 16,
            };
            if seen & bit != 0 {
                self.pos -= 1;
                return Err(self.error("flag set twice"));
            }
            seen |= bit;
            dangling_dash = false;
        }
    }

    /// After `\` outside a class.
    fn escape(&mut self) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err(self.error("pattern ends with a lone `\\`"));
        };
        let look = match c {
            'A' => Some(Look::Start),
            'z' => Some(Look::End),
            'b' => Some(self.special_word_boundary()?.unwrap_or(Look::Word)),
            'B' => Some(Look::NotWord),
            '<' => Some(Look::WordStart),
            '>' => Some(Look::WordEnd),
            _ => None,
        };
        if let Some(look) = look {
            self.pos += 1;
            return Ok(Node::Look(look));
        }
        match self.escaped()? {
            Escaped::Char(c) => Ok(self.literal(c)),
            Escaped::Set(set) => Ok(self.class_node(set)),
        }
    }

    /// At the `b` of `\b`: reads `{start}`, `{end}`, `{start-half}` or `{end-half}` after it, if
    /// a name follows `{` (`\b{2}` is `\b` repeated).
    fn special_word_boundary(&mut self) -> Result<Option<Look>, String> {
        let at = self.pos;
        if self.peek_at(1) != Some('{') {
            return Ok(None);
        }
        self.pos += 2;
        self.skip_verbose();
        let is_name = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic() || c == '-');
        if !is_name(self.peek()) {
            self.pos = at;
            return Ok(None);
        }
        let mut name = String::new();
        while let Some(c) = self.peek().filter(|&c| is_name(Some(c))) {
            name.push(c);
            self.pos += 1;
            self.skip_verbose();
        }
        if !self.eat('}') {
            return Err(self.error("`\\b{` not closed by `}`"));
        }
        // Leaves `pos` at the `}`, which the caller steps over as it would the `b`.
        self.pos -= 1;
        match name.as_str() {
            "start" => Ok(Some(Look::WordStart)),
            "end" => Ok(Some(Look::WordEnd)),
            "start-half" => Ok(Some(Look::WordStartHalf)),
            "end-half" => Ok(Some(Look::WordEndHalf)),
            _ => {
                self.pos = at;
                Err(self.error(
                    "unknown word boundary (`\\b{start}`, `{end}`, `{start-half}`, `{end-half}`)",
                ))
            }
        }
    }

    /// After `\`, in or outside a class: a character or a Perl class (`\d`).
    fn escaped(&mut self) -> Result<Escaped, String> {
        let Some(c) = self.peek() else {
            return Err(self.error("pattern ends with a lone `\\`"));
        };
        self.pos += 1;
        let set = |ranges: &[Range], negated: bool| {
            let set = ranges.to_vec();
            Ok(Escaped::Set(if negated { complement(&set) } else { set }))
        };
        let c = match c {
            'd' | 'D' => return set(DIGIT, c == 'D'),
            'w' | 'W' => return set(WORD, c == 'W'),
            's' | 'S' => return set(SPACE, c == 'S'),
            'p' | 'P' => {
                self.pos -= 1;
                return Err(self.error("Unicode classes `\\p{…}` are not supported"));
            }
            'a' => '\u{7}',
            'f' => '\u{c}',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'v' => '\u{b}',
            'x' => self.hex(2)?,
            'u' => self.hex(4)?,
            'U' => self.hex(8)?,
            c if c.is_ascii() && !c.is_ascii_alphanumeric() && c != '<' && c != '>' => c,
            _ => {
                self.pos -= 1;
                return Err(self.error("unknown escape"));
            }
        };
        Ok(Escaped::Char(c))
    }

    /// `HH…` (exactly `digits` hex digits) or `{H…}` after `\x`, `\u`, `\U`. `(?x)` allows
    /// spaces anywhere in it, as in `regex`.
    fn hex(&mut self, digits: usize) -> Result<char, String> {
        self.skip_verbose();
        let braced = self.eat('{');
        let mut value: Option<u32> = Some(0);
        let mut count = 0;
        loop {
            self.skip_verbose();
            match self.peek().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    self.pos += 1;
                    count += 1;
                    value = value.and_then(|v| v.checked_mul(16)?.checked_add(d));
                    if !braced && count == digits {
                        break;
                    }
                }
                None if braced && count > 0 && self.eat('}') => break,
                None => return Err(self.error("invalid hexadecimal escape")),
            }
        }
        value
            .and_then(char::from_u32)
            .ok_or_else(|| self.error("escape is not a Unicode scalar value"))
    }

    /// After `[`: a bracketed class. Its items are read as `regex` reads them: leading `-`s, or
    /// else a leading `]`, are literals; `-` starts a range unless `]` or `-` follows it; under
    /// `(?x)` white space and comments are skipped everywhere, ranges included.
    fn class(&mut self) -> Result<Node, String> {
        self.skip_verbose();
        let negated = self.eat('^');
        self.skip_verbose();
        let mut set = Set::new();
        while self.eat('-') {
            set.push(('-', '-'));
            self.skip_verbose();
        }
        if set.is_empty() && self.eat(']') {
            set.push((']', ']'));
        }
        loop {
            self.skip_verbose();
            let Some(c) = self.peek() else {
                return Err(self.error("unclosed class: `[` without `]`"));
            };
            match (c, self.peek_at(1)) {
                (']', _) => {
                    self.pos += 1;
                    break;
                }
                ('[', Some(':')) => self.posix(&mut set)?,
                ('[', _) => {
                    return Err(
                        self.error("nested classes are not supported (escape `[` as `\\[`)")
                    );
                }
                ('&', Some('&')) | ('-', Some('-')) | ('~', Some('~')) => {
                    return Err(self.error("class set operations (&&, --, ~~) are not supported"));
                }
                _ => self.class_item(&mut set)?,
            }
        }
        if self.flags.case_insensitive {
            set = with_ascii_cases(set);
        }
        Ok(self.class_node(if negated { complement(&set) } else { set }))
    }

    /// One item of a class: a character, a range `a-z` or an escaped class `\d`.
    fn class_item(&mut self, set: &mut Set) -> Result<(), String> {
        let low = self.class_atom()?;
        self.skip_verbose();
        let range =
            self.peek() == Some('-') && !matches!(self.peek_after_verbose(), Some(']' | '-'));
        let low = match low {
            Escaped::Char(c) if range => c,
            Escaped::Char(c) => {
                set.push((c, c));
                return Ok(());
            }
            Escaped::Set(_) if range => {
                return Err(self.error("a class range cannot start at a class"));
            }
            Escaped::Set(s) => {
                set.extend(s);
                return Ok(());
            }
        };
        self.pos += 1;
        self.skip_verbose();
        let Escaped::Char(high) = self.class_atom()? else {
            return Err(self.error("a class range cannot end in a class"));
        };
        if high < low {
            return Err(self.error("class range out of order"));
        }
        set.push((low, high));
        Ok(())
    }

    /// A character of a class, escaped or not, or an escaped class `\d`.
    fn class_atom(&mut self) -> Result<Escaped, String> {
        let Some(c) = self.peek() else {
            return Err(self.error("unclosed class: `[` without `]`"));
        };
        self.pos += 1;
        if c == '\\' {
            self.escaped()
        } else {
            Ok(Escaped::Char(c))
        }
    }

    /// `[:name:]` or `[:^name:]` inside a class: an ASCII class.
    fn posix(&mut self, set: &mut Set) -> Result<(), String> {
        let start = self.pos;
        self.pos += 2;
        let negated = self.eat('^');
        let name_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_lowercase()) {
            self.pos += 1;
        }
        let name: String = self.text[name_start..self.pos].iter().collect();
        if !(self.eat(':') && self.eat(']')) {
            self.pos = start;
            return Err(self.error("nested classes are not supported (escape `[` as `\\[`)"));
        }
        let ranges: &[Range] = match name.as_str() {
            "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
            "alpha" => &[('A', 'Z'), ('a', 'z')],
            "ascii" => &[('\0', '\u{7f}')],
            "blank" => &[('\t', '\t'), (' ', ' ')],
            "cntrl" => &[('\0', '\u{1f}'), ('\u{7f}', '\u{7f}')],
            "digit" => DIGIT,
            "graph" => &[('!', '~')],
            "lower" => &[('a', 'z')],
            "print" => &[(' ', '~')],
            "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
            "space" => SPACE,
            "upper" => &[('A', 'Z')],
            "word" => WORD,
            "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
            _ => {
                self.pos = name_start;
                return Err(self.error("unknown POSIX class"));
            }
        };
        // Folded before it is negated, as `regex` does: `(?i)[[:^upper:]]` does not match `a`.
        let ranges = if self.flags.case_insensitive {
            with_ascii_cases(ranges.to_vec())
        } else {
            ranges.to_vec()
        };
        set.extend(if negated { complement(&ranges) } else { ranges });
        Ok(())
    }

    /// Registers a class and returns the node matching one of its characters.
    fn class_node(&mut self, set: Set) -> Node {
        let set = if self.flags.case_insensitive {
            with_ascii_cases(set)
        } else {
            set
        };
        let id = self.classes.len() as u32;
        self.classes.push(canonical(set));
        Node::Class(id)
    }
}

/// What a `\` escape stands for.
enum Escaped {
    Char(char),
    Set(Set),
}

fn concat(mut nodes: Vec<Node>) -> Node {
    match nodes.len() {
        0 => Node::Empty,
        1 => nodes.pop().unwrap_or(Node::Empty),
        _ => Node::Concat(nodes),
    }
}

/// Adds the other case of each ASCII letter in `set`.
fn with_ascii_cases(mut set: Set) -> Set {
    for i in 0..set.len() {
        let (lo, hi) = set[i];
        for (from, to, other) in [('a', 'z', 'A'), ('A', 'Z', 'a')] {
            let (lo, hi) = (lo.max(from), hi.min(to));
            if lo <= hi {
                set.push((shift(lo, from, other), shift(hi, from, other)));
            }
        }
    }
    set
}

fn shift(c: char, from: char, to: char) -> char {
    char::from_u32(c as u32 - from as u32 + to as u32).unwrap_or(c)
}

/// Sorts and merges ranges. A heap sort, as in `flags::sorted_keys`: a fraction of the size of
/// core's slice sort in the browser's wasm, and O(n log n) on a hostile class.
fn canonical(set: Set) -> Vec<Range> {
    let set = std::collections::BinaryHeap::from(set).into_sorted_vec();
    let mut out: Vec<Range> = Vec::with_capacity(set.len());
    for (lo, hi) in set {
        match out.last_mut() {
            Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The characters not in `set` (the surrogate gap is not characters).
fn complement(set: &[Range]) -> Set {
    let mut out = Set::new();
    let mut next: u32 = 0;
    for (lo, hi) in canonical(set.to_vec()) {
        push_range(&mut out, next, lo as u32);
        next = hi as u32 + 1;
    }
    push_range(&mut out, next, char::MAX as u32 + 1);
    out
}

/// Pushes the characters in `lo..end`, skipping surrogates.
fn push_range(out: &mut Set, lo: u32, end: u32) {
    for (a, b) in [(lo, end.min(0xD800)), (lo.max(0xE000), end)] {
        if a < b
            && let (Some(a), Some(b)) = (char::from_u32(a), char::from_u32(b - 1))
        {
            out.push((a, b));
        }
    }
}
