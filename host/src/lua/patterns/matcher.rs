//! A backtracking matcher for Lua 5.4 patterns (manual §6.4.1), on bytes.
//!
//! It exists so that pattern matching can be metered: every single-byte
//! test and every backtracking step costs one unit of `fuel`, and running
//! out stops the match with [`PatternError::BudgetSpent`]. The caller loads
//! the fuel from the rule's instruction budget and puts back what is left.
//!
//! It matches what stock Lua matches, finds what it finds first, and fails
//! where and how it fails:
//! - patterns are read lazily, as matching reaches them: a malformed tail
//!   that is never reached is no error (`string.find("b", "a%")` is nil);
//! - recursion happens in the same places as Lua's matcher (captures, the
//!   tries of `?`, `*`, `+`, `-`), and is cut at the same depth of 200
//!   with "pattern too complex"; single items, `%b`, `%f` and back-references
//!   continue in a loop and cost no depth;
//! - a back-reference to a position capture never matches.

use super::class::{class_matches, set_matches};

/// Lua's limit on captures in one pattern.
pub const MAX_CAPTURES: usize = 32;

/// How deep the matcher may recurse, as Lua's (`MAXCCALLS` in lstrlib):
/// deeper is "pattern too complex".
pub const MAX_DEPTH: u32 = 200;

/// The end of a capture that is still open.
const OPEN: usize = usize::MAX;
/// The "end" of a position capture `()`.
const POSITION: usize = usize::MAX - 1;

/// Why a pattern could not be matched. The messages are stock Lua's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternError {
    /// A `%` ends the pattern.
    EndsWithPercent,
    /// A `[` set has no closing `]`.
    MissingBracket,
    /// `%b` without its two delimiters.
    MissingBalanceArgs,
    /// `%f` not followed by a `[` set.
    FrontierWithoutSet,
    /// `%0`, or `%n` naming a capture that is not there or still open;
    /// also `%n` in a `gsub` replacement beyond the captures.
    InvalidCaptureIndex(u8),
    /// A `)` with no open capture.
    InvalidPatternCapture,
    /// A match whose capture was never closed (`"(a"`).
    UnfinishedCapture,
    /// More than [`MAX_CAPTURES`] captures.
    TooManyCaptures,
    /// Recursion deeper than [`MAX_DEPTH`].
    TooComplex,
    /// The rule's instruction budget ran out while matching.
    BudgetSpent,
    /// A bug in the matcher (it panicked); the match is abandoned.
    Internal,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatternError::EndsWithPercent => f.write_str("malformed pattern (ends with '%')"),
            PatternError::MissingBracket => f.write_str("malformed pattern (missing ']')"),
            PatternError::MissingBalanceArgs => {
                f.write_str("malformed pattern (missing arguments to '%b')")
            }
            PatternError::FrontierWithoutSet => f.write_str("missing '[' after '%f' in pattern"),
            PatternError::InvalidCaptureIndex(n) => write!(f, "invalid capture index %{n}"),
            PatternError::InvalidPatternCapture => f.write_str("invalid pattern capture"),
            PatternError::UnfinishedCapture => f.write_str("unfinished capture"),
            PatternError::TooManyCaptures => f.write_str("too many captures"),
            PatternError::TooComplex => f.write_str("pattern too complex"),
            PatternError::BudgetSpent => f.write_str("instruction budget exceeded"),
            PatternError::Internal => f.write_str("internal error in the pattern matcher"),
        }
    }
}

/// One capture's value once a match is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captured<'a> {
    /// The bytes it captured.
    Text(&'a [u8]),
    /// A position capture `()`: the 1-based position in the subject.
    Position(usize),
}

/// Where a match ended, if it matched.
type Outcome = Result<Option<usize>, PatternError>;

/// The state of matching one pattern against one subject.
///
/// Plain data only (no destructor): the Lua functions keep it on their
/// frame while Lua may `longjmp` over it.
pub struct Matcher<'a> {
    subject: &'a [u8],
    pattern: &'a [u8],
    /// Captures started so far.
    level: usize,
    /// Start and end of each capture; the end may be [`OPEN`] or
    /// [`POSITION`].
    starts: [usize; MAX_CAPTURES],
    ends: [usize; MAX_CAPTURES],
    /// Recursion left before "pattern too complex".
    depth: u32,
    /// Steps left before the budget is spent.
    fuel: u64,
    /// A byte every match must start with, when the pattern begins with a
    /// plain literal: the search skips to it with `memchr` instead of
    /// trying every position (the same matches, found faster).
    first_byte: Option<u8>,
}

impl<'a> Matcher<'a> {
    /// A matcher of `pattern` (without any leading `^` anchor: the caller
    /// decides what anchoring means) against `subject`.
    pub fn new(subject: &'a [u8], pattern: &'a [u8]) -> Matcher<'a> {
        Matcher {
            subject,
            pattern,
            level: 0,
            starts: [0; MAX_CAPTURES],
            ends: [0; MAX_CAPTURES],
            depth: MAX_DEPTH,
            fuel: u64::MAX,
            first_byte: first_byte(pattern),
        }
    }

    pub fn subject(&self) -> &'a [u8] {
        self.subject
    }

    pub fn fuel(&self) -> u64 {
        self.fuel
    }

    pub fn set_fuel(&mut self, fuel: u64) {
        self.fuel = fuel;
    }

    /// How many captures the last match has.
    pub fn level(&self) -> usize {
        self.level
    }

    /// The first match starting at or after `from` (a 0-based offset; one
    /// past the end still has the empty match there, beyond has nothing)
    /// whose end is not `last`, as (start, end); with `anchored`, only a
    /// match starting at `from`.
    ///
    /// `last` is how `gmatch` and `gsub` skip an empty match right where
    /// the previous match ended (the 5.4 rule).
    pub fn search(
        &mut self,
        from: usize,
        anchored: bool,
        last: Option<usize>,
    ) -> Result<Option<(usize, usize)>, PatternError> {
        let mut s = from;
        while s <= self.subject.len() {
            if let (Some(byte), false) = (self.first_byte, anchored) {
                match memchr::memchr(byte, &self.subject[s..]) {
                    Some(skip) => s += skip,
                    None => return Ok(None),
                }
            }
            self.level = 0;
            self.depth = MAX_DEPTH;
            if let Some(end) = self.item(s, 0)? {
                if Some(end) != last {
                    return Ok(Some((s, end)));
                }
            }
            if anchored {
                break;
            }
            s += 1;
        }
        Ok(None)
    }

    /// Capture `i` of the last match, which spanned `whole`: with no
    /// captures at all, capture 0 is the whole match.
    pub fn capture(&self, i: usize, whole: (usize, usize)) -> Result<Captured<'a>, PatternError> {
        if i >= self.level {
            return match i {
                0 => Ok(Captured::Text(&self.subject[whole.0..whole.1])),
                // Only `gsub`'s `%1`-`%9` ask beyond the captures.
                _ => Err(PatternError::InvalidCaptureIndex(i as u8 + 1)),
            };
        }
        let start = self.starts[i];
        match self.ends[i] {
            OPEN => Err(PatternError::UnfinishedCapture),
            POSITION => Ok(Captured::Position(start + 1)),
            end => Ok(Captured::Text(&self.subject[start..end])),
        }
    }

    /// One unit of work.
    #[inline(always)]
    fn charge(&mut self) -> Result<(), PatternError> {
        self.charge_steps(1)
    }

    #[inline(always)]
    fn charge_steps(&mut self, steps: u64) -> Result<(), PatternError> {
        match self.fuel.checked_sub(steps) {
            Some(left) => {
                self.fuel = left;
                Ok(())
            }
            None => {
                self.fuel = 0;
                Err(PatternError::BudgetSpent)
            }
        }
    }

    /// Matches the pattern from `p` on at subject offset `s`; one level of
    /// recursion.
    fn item(&mut self, s: usize, p: usize) -> Outcome {
        self.charge()?;
        if self.depth == 0 {
            return Err(PatternError::TooComplex);
        }
        self.depth -= 1;
        let outcome = self.sequence(s, p);
        self.depth += 1;
        outcome
    }

    /// The body of [`Matcher::item`]: items that cannot backtrack are
    /// matched in a loop; the others recurse for what follows them.
    fn sequence(&mut self, mut s: usize, mut p: usize) -> Outcome {
        let pattern = self.pattern;
        loop {
            let Some(&head) = pattern.get(p) else {
                return Ok(Some(s));
            };
            match head {
                b'(' => {
                    return if pattern.get(p + 1) == Some(&b')') {
                        self.open_capture(s, p + 2, POSITION)
                    } else {
                        self.open_capture(s, p + 1, OPEN)
                    };
                }
                b')' => return self.close_capture(s, p + 1),
                b'$' if p + 1 == pattern.len() => {
                    return Ok((s == self.subject.len()).then_some(s));
                }
                b'%' => match pattern.get(p + 1) {
                    Some(b'b') => match self.balance(s, p + 2)? {
                        Some(end) => {
                            s = end;
                            p += 4;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    Some(b'f') => {
                        p += 2;
                        if pattern.get(p) != Some(&b'[') {
                            return Err(PatternError::FrontierWithoutSet);
                        }
                        let end = self.class_end(p)?;
                        self.charge()?;
                        let set = &pattern[p..end];
                        let before = if s == 0 { 0 } else { self.subject[s - 1] };
                        let at = self.subject.get(s).copied().unwrap_or(0);
                        if !set_matches(before, set) && set_matches(at, set) {
                            p = end;
                            continue;
                        }
                        return Ok(None);
                    }
                    Some(&digit) if digit.is_ascii_digit() => {
                        match self.back_reference(s, digit)? {
                            Some(end) => {
                                s = end;
                                p += 2;
                                continue;
                            }
                            None => return Ok(None),
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
            // A single-byte item, maybe with a quantifier after it.
            let end = self.class_end(p)?;
            let quantifier = pattern.get(end).copied();
            if !self.single(s, p, end)? {
                // Zero occurrences are all these allow.
                if let Some(b'*' | b'?' | b'-') = quantifier {
                    p = end + 1;
                    continue;
                }
                return Ok(None);
            }
            match quantifier {
                Some(b'?') => {
                    if let Some(found) = self.item(s + 1, end + 1)? {
                        return Ok(Some(found));
                    }
                    p = end + 1;
                }
                Some(b'+') => return self.longest(s + 1, p, end),
                Some(b'*') => return self.longest(s, p, end),
                Some(b'-') => return self.shortest(s, p, end),
                _ => {
                    s += 1;
                    p = end;
                }
            }
        }
    }

    /// Where the single-byte item at `p` ends: after `%x`, after the `]`
    /// of a set, or after the byte itself.
    fn class_end(&self, p: usize) -> Result<usize, PatternError> {
        let pattern = self.pattern;
        match pattern[p] {
            b'%' if p + 1 >= pattern.len() => Err(PatternError::EndsWithPercent),
            b'%' => Ok(p + 2),
            b'[' => {
                let mut q = p + 1;
                if pattern.get(q) == Some(&b'^') {
                    q += 1;
                }
                // The first byte of a set is always a member, even `]`.
                loop {
                    let Some(&b) = pattern.get(q) else {
                        return Err(PatternError::MissingBracket);
                    };
                    q += 1;
                    if b == b'%' && q < pattern.len() {
                        q += 1;
                    }
                    if pattern.get(q) == Some(&b']') {
                        return Ok(q + 1);
                    }
                }
            }
            _ => Ok(p + 1),
        }
    }

    /// Whether the subject byte at `s` (if any) matches the single-byte
    /// item `pattern[p..end]`.
    #[inline]
    fn single(&mut self, s: usize, p: usize, end: usize) -> Result<bool, PatternError> {
        self.charge()?;
        let Some(&c) = self.subject.get(s) else {
            return Ok(false);
        };
        Ok(match self.pattern[p] {
            b'.' => true,
            b'%' => class_matches(c, self.pattern[p + 1]),
            b'[' => set_matches(c, &self.pattern[p..end]),
            literal => literal == c,
        })
    }

    /// `x*` and `x+`: as many `x` as there are from `s`, then fewer and
    /// fewer until the rest of the pattern matches.
    fn longest(&mut self, s: usize, p: usize, end: usize) -> Outcome {
        let mut n = self.run(s, p, end)?;
        loop {
            if let Some(found) = self.item(s + n, end + 1)? {
                return Ok(Some(found));
            }
            if n == 0 {
                return Ok(None);
            }
            n -= 1;
        }
    }

    /// How many bytes from `s` on match the single-byte item
    /// `pattern[p..end]`: [`Matcher::single`] in a loop, specialised by the
    /// kind of item, and charged as one step per byte tested.
    fn run(&mut self, s: usize, p: usize, end: usize) -> Result<usize, PatternError> {
        let rest = &self.subject[s..];
        let pattern = self.pattern;
        let n = match pattern[p] {
            b'.' => rest.len(),
            b'%' => {
                let class = pattern[p + 1];
                count_while(rest, |c| class_matches(c, class))
            }
            b'[' => {
                let set = &pattern[p..end];
                count_while(rest, |c| set_matches(c, set))
            }
            literal => count_while(rest, |c| c == literal),
        };
        // n bytes matched and one did not (or the subject ended).
        self.charge_steps(n as u64 + 1)?;
        Ok(n)
    }

    /// `x-`: as few `x` as will let the rest of the pattern match.
    fn shortest(&mut self, mut s: usize, p: usize, end: usize) -> Outcome {
        loop {
            if let Some(found) = self.item(s, end + 1)? {
                return Ok(Some(found));
            }
            if !self.single(s, p, end)? {
                return Ok(None);
            }
            s += 1;
        }
    }

    fn open_capture(&mut self, s: usize, p: usize, end: usize) -> Outcome {
        if self.level >= MAX_CAPTURES {
            return Err(PatternError::TooManyCaptures);
        }
        self.starts[self.level] = s;
        self.ends[self.level] = end;
        self.level += 1;
        let found = self.item(s, p)?;
        if found.is_none() {
            self.level -= 1;
        }
        Ok(found)
    }

    /// `)`: closes the innermost capture still open.
    fn close_capture(&mut self, s: usize, p: usize) -> Outcome {
        let Some(i) = (0..self.level).rev().find(|&i| self.ends[i] == OPEN) else {
            return Err(PatternError::InvalidPatternCapture);
        };
        self.ends[i] = s;
        let found = self.item(s, p)?;
        if found.is_none() {
            self.ends[i] = OPEN;
        }
        Ok(found)
    }

    /// `%bxy` (`p` at `x`): from an `x` at `s` to its balancing `y`.
    fn balance(&mut self, s: usize, p: usize) -> Outcome {
        let (Some(&open), Some(&close)) = (self.pattern.get(p), self.pattern.get(p + 1)) else {
            return Err(PatternError::MissingBalanceArgs);
        };
        self.charge()?;
        if self.subject.get(s) != Some(&open) {
            return Ok(None);
        }
        let mut depth = 1usize;
        for i in s + 1..self.subject.len() {
            self.charge()?;
            let c = self.subject[i];
            // `close` first: with x == y, `%bxx` ends at the next x.
            if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
        }
        Ok(None)
    }

    /// `%1`-`%9` (and the invalid `%0`): the same bytes again as capture n.
    fn back_reference(&mut self, s: usize, digit: u8) -> Outcome {
        let n = digit - b'0';
        let i = usize::from(n).wrapping_sub(1);
        if n == 0 || i >= self.level || self.ends[i] == OPEN {
            return Err(PatternError::InvalidCaptureIndex(n));
        }
        let (start, end) = (self.starts[i], self.ends[i]);
        if end == POSITION {
            return Ok(None);
        }
        let len = end - start;
        // A long comparison costs as much as many single-byte steps.
        self.charge_steps(1 + len as u64 / 16)?;
        let again = self.subject.get(s..s + len);
        Ok((again == Some(&self.subject[start..end])).then_some(s + len))
    }
}

/// How many bytes at the start of `bytes` satisfy `test`.
#[inline(always)]
fn count_while(bytes: &[u8], test: impl Fn(u8) -> bool) -> usize {
    bytes.iter().position(|&c| !test(c)).unwrap_or(bytes.len())
}

/// The byte a match of `pattern` must start with, if it begins with a
/// literal that no quantifier can make optional.
fn first_byte(pattern: &[u8]) -> Option<u8> {
    let &first = pattern.first()?;
    if b"()%[.$".contains(&first) {
        return None;
    }
    match pattern.get(1) {
        Some(b'*' | b'?' | b'-') => None,
        _ => Some(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(subject: &str, pattern: &str) -> Result<Option<(usize, usize)>, PatternError> {
        let (anchored, body) = match pattern.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        Matcher::new(subject.as_bytes(), body.as_bytes()).search(0, anchored, None)
    }

    #[test]
    fn basic_items() {
        assert_eq!(find("hello world", "o w"), Ok(Some((4, 7))));
        assert_eq!(find("hello", "^l"), Ok(None));
        assert_eq!(find("hello", "l+"), Ok(Some((2, 4))));
        assert_eq!(find("hello", "l-o"), Ok(Some((2, 5))));
        assert_eq!(find("hello", "x*"), Ok(Some((0, 0))));
        assert_eq!(find("hello", "o$"), Ok(Some((4, 5))));
        assert_eq!(find("f(a(b)c)d", "%b()"), Ok(Some((1, 8))));
        assert_eq!(find("THE (quick) fox", "%f[%a]%a+"), Ok(Some((0, 3))));
        assert_eq!(find("abab", "(ab)%1"), Ok(Some((0, 4))));
    }

    #[test]
    fn errors_come_as_matching_reaches_them() {
        assert_eq!(find("b", "a%"), Ok(None));
        assert_eq!(find("a", "a%"), Err(PatternError::EndsWithPercent));
        assert_eq!(find("a", "[a"), Err(PatternError::MissingBracket));
        assert_eq!(find("a", "%f"), Err(PatternError::FrontierWithoutSet));
        assert_eq!(
            find("a", "(a"),
            Ok(Some((0, 1))),
            "unfinished only when read"
        );
    }

    #[test]
    fn fuel_runs_out() {
        let subject = "a".repeat(5000);
        let mut m = Matcher::new(subject.as_bytes(), b".-.-.-.-x");
        m.set_fuel(100_000);
        assert_eq!(m.search(0, false, None), Err(PatternError::BudgetSpent));
        assert_eq!(m.fuel(), 0);
    }

    #[test]
    fn recursion_is_bounded() {
        let subject = "a".repeat(300);
        let pattern = "a?".repeat(300);
        let mut m = Matcher::new(subject.as_bytes(), pattern.as_bytes());
        assert_eq!(m.search(0, false, None), Err(PatternError::TooComplex));
    }
}
