//! Syntax tree → a Thompson NFA as a flat instruction list, run by [`super::vm`].

use super::parse::{Look, Node, Parsed, Range};

/// Most instructions in one program: bounds the memory (and per-character work) of a pattern
/// such as `(a{1000}){1000}`.
pub(super) const MAX_INSTRUCTIONS: usize = 20_000;

/// One NFA state.
#[derive(Debug, Clone, Copy)]
pub(super) enum Inst {
    /// Consume this character.
    Char(char),
    /// Consume a character of class `n`.
    Class(u32),
    /// Go on if the test holds here.
    Look(Look),
    /// Go on at both targets.
    Split(u32, u32),
    /// Go on at the target.
    Jump(u32),
    /// The pattern matched.
    Match,
}

/// A compiled pattern: instructions (start at 0) and the classes they test.
#[derive(Debug)]
pub(super) struct Program {
    pub(super) insts: Vec<Inst>,
    pub(super) classes: Vec<Vec<Range>>,
    /// Tree nodes visited while compiling: `((){1000}){1000}` emits nothing, many times.
    visits: usize,
}

impl Program {
    /// Compiles a parsed pattern, or says it is too large.
    pub(super) fn new(parsed: Parsed) -> Result<Program, String> {
        let mut program = Program {
            insts: Vec::new(),
            classes: parsed.classes,
            visits: 0,
        };
        program.emit(&parsed.node)?;
        program.push(Inst::Match)?;
        Ok(program)
    }

    /// Whether `c` is in class `id`.
    pub(super) fn in_class(&self, id: u32, c: char) -> bool {
        self.classes.get(id as usize).is_some_and(|ranges| {
            ranges
                .binary_search_by(|&(lo, hi)| {
                    if hi < c {
                        std::cmp::Ordering::Less
                    } else if lo > c {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .is_ok()
        })
    }

    fn next(&self) -> u32 {
        self.insts.len() as u32
    }

    fn push(&mut self, inst: Inst) -> Result<u32, String> {
        if self.insts.len() >= MAX_INSTRUCTIONS {
            return Err(too_large());
        }
        self.insts.push(inst);
        Ok(self.next() - 1)
    }

    /// Points the `Split` or `Jump` at `at` to `to` (its second target, for a `Split`).
    fn patch(&mut self, at: u32, to: u32) {
        if let Some(Inst::Split(_, target) | Inst::Jump(target)) = self.insts.get_mut(at as usize) {
            *target = to;
        }
    }

    fn emit(&mut self, node: &Node) -> Result<(), String> {
        self.visits += 1;
        if self.visits > 10 * MAX_INSTRUCTIONS {
            return Err(too_large());
        }
        match node {
            Node::Empty => {}
            Node::Char(c) => {
                self.push(Inst::Char(*c))?;
            }
            Node::Class(id) => {
                self.push(Inst::Class(*id))?;
            }
            Node::Look(look) => {
                self.push(Inst::Look(*look))?;
            }
            Node::Concat(nodes) => {
                for node in nodes {
                    self.emit(node)?;
                }
            }
            Node::Alt(nodes) => {
                // split L1, next; L1: a; jump end; next: split L2, next'; … ; last
                let mut jumps = Vec::with_capacity(nodes.len());
                for (i, node) in nodes.iter().enumerate() {
                    if i + 1 == nodes.len() {
                        self.emit(node)?;
                    } else {
                        let split = self.push(Inst::Split(self.next() + 1, 0))?;
                        self.emit(node)?;
                        jumps.push(self.push(Inst::Jump(0))?);
                        self.patch(split, self.next());
                    }
                }
                let end = self.next();
                for jump in jumps {
                    self.patch(jump, end);
                }
            }
            Node::Repeat { node, min, max } => self.repeat(node, *min, *max)?,
        }
        Ok(())
    }

    fn repeat(&mut self, node: &Node, min: u32, max: Option<u32>) -> Result<(), String> {
        for _ in 0..min {
            self.emit(node)?;
        }
        match max {
            None => {
                // loop: split body, out; body: node; jump loop; out:
                let split = self.push(Inst::Split(self.next() + 1, 0))?;
                self.emit(node)?;
                self.push(Inst::Jump(split))?;
                self.patch(split, self.next());
            }
            Some(max) => {
                // Each optional copy may be skipped straight to the end.
                let mut splits = Vec::new();
                for _ in min..max {
                    splits.push(self.push(Inst::Split(self.next() + 1, 0))?);
                    self.emit(node)?;
                }
                let end = self.next();
                for split in splits {
                    self.patch(split, end);
                }
            }
        }
        Ok(())
    }
}

fn too_large() -> String {
    format!("pattern too large (more than {MAX_INSTRUCTIONS} states once repetitions are expanded)")
}
