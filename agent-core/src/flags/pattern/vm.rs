//! Runs a [`Program`] over a text as a Pike VM: every NFA state is followed at once, one
//! character at a time, so a search costs at most (states × characters) steps whatever the
//! pattern: no backtracking, no blow-up on `(a|a)*b`.

use super::program::{Inst, Program};

/// Most steps one search may take; past it the search ends with no match. A pattern of
/// 20,000 states on a 100 KB text would otherwise take billions of steps (seconds) inside
/// `get_treatment`; this bounds any search to tens of milliseconds. Counting steps, not time,
/// keeps the answer the same on every platform. Real patterns on real attributes take a few
/// hundred steps.
pub(super) const MAX_STEPS: u64 = 5_000_000;

/// States reached at one position, in insertion order, each at most once.
struct StateSet {
    dense: Vec<u32>,
    /// `sparse[s]` is where `s` sits in `dense`, when it is there.
    sparse: Vec<u32>,
}

impl StateSet {
    fn new(size: usize) -> StateSet {
        StateSet {
            dense: Vec::with_capacity(size),
            sparse: vec![0; size],
        }
    }

    fn contains(&self, s: u32) -> bool {
        self.sparse
            .get(s as usize)
            .is_some_and(|&i| self.dense.get(i as usize) == Some(&s))
    }

    fn insert(&mut self, s: u32) {
        if let Some(slot) = self.sparse.get_mut(s as usize) {
            *slot = self.dense.len() as u32;
            self.dense.push(s);
        }
    }
}

/// Whether `program` matches anywhere in `text` within [`MAX_STEPS`], and the steps it took
/// (states visited).
pub(super) fn search(program: &Program, text: &str) -> (bool, u64) {
    let size = program.insts.len();
    let (current, next) = (&mut StateSet::new(size), &mut StateSet::new(size));
    let stack = &mut Vec::new();
    let anchored = starts_anchored(program);
    let mut steps = 0;
    let mut before = None;
    let mut chars = text.chars();
    let mut at = chars.next();
    loop {
        // A match may start here: a new thread at the start state, after the older ones.
        let may_start = before.is_none() || !anchored;
        if may_start && follow(program, current, stack, 0, before, at, &mut steps) {
            return (true, steps);
        }
        let Some(c) = at else {
            return (false, steps);
        };
        let after = chars.next();
        next.dense.clear();
        for &s in &current.dense {
            let consumes = match program.insts.get(s as usize) {
                Some(Inst::Char(x)) => *x == c,
                Some(Inst::Class(id)) => program.in_class(*id, c),
                _ => false,
            };
            if consumes && follow(program, next, stack, s + 1, Some(c), after, &mut steps) {
                return (true, steps);
            }
        }
        std::mem::swap(current, next);
        if (current.dense.is_empty() && anchored) || steps > MAX_STEPS {
            return (false, steps);
        }
        before = Some(c);
        at = after;
    }
}

/// Adds `start` and every state reachable from it without consuming a character (between
/// `before` and `after`) to `set`; true when that reaches `Match`.
fn follow(
    program: &Program,
    set: &mut StateSet,
    stack: &mut Vec<u32>,
    start: u32,
    before: Option<char>,
    after: Option<char>,
    steps: &mut u64,
) -> bool {
    stack.clear();
    stack.push(start);
    while let Some(s) = stack.pop() {
        if set.contains(s) {
            continue;
        }
        set.insert(s);
        *steps += 1;
        match program.insts.get(s as usize) {
            Some(Inst::Match) => return true,
            Some(Inst::Jump(to)) => stack.push(*to),
            Some(Inst::Split(a, b)) => {
                stack.push(*b);
                stack.push(*a);
            }
            Some(Inst::Look(look)) if look.holds(before, after) => stack.push(s + 1),
            _ => {}
        }
    }
    false
}

/// A pattern starting with `^`/`\A` cannot begin matching after the first character.
fn starts_anchored(program: &Program) -> bool {
    matches!(
        program.insts.first(),
        Some(Inst::Look(super::parse::Look::Start))
    )
}
