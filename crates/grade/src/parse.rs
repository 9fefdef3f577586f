//! A recursive-descent parser from answer tokens to a small math tree.
//!
//! The grammar is forgiving about what people write in final answers (implicit
//! products, `\frac12`, mixed numbers, units after numbers) but refuses anything it does
//! not understand: an unparsed answer is compared as a string, never guessed at.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;

use crate::lex::{Tok, Token};
use crate::units::{power_prefix, Unit};

/// Nesting deeper than this is refused; it bounds stack use on hostile input.
const MAX_DEPTH: usize = 64;
/// Most elements in one list, tuple, set or matrix row.
const MAX_ITEMS: usize = 256;
/// Most speculative parses (of a `|` that may open or close) in one answer: bounds the
/// work on hostile input to a linear amount.
const MAX_BACKTRACKS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Const {
    Pi,
    E,
    I,
    Inf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    Sin,
    Cos,
    Tan,
    Sec,
    Csc,
    Cot,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Ln,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RelOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
    In,
    /// `a \approx b`: `b` is `a` rounded.
    Approx,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// An exact literal; `Some(k)` when written as a decimal with `k` digits after the
    /// point (the gold-rounding policy needs to know the precision the author used).
    Num(BigRational, Option<u32>),
    /// Digits in a base given by a subscript: `1010_2`. Invariant: `2 <= base <= 36`.
    Base(String, u32),
    Const(Const),
    Var(String),
    Add(Vec<Node>),
    Neg(Box<Node>),
    Mul(Vec<Node>),
    Div(Box<Node>, Box<Node>),
    Pow(Box<Node>, Box<Node>),
    /// `(index, radicand)`.
    Root(Box<Node>, Box<Node>),
    Func(Func, Box<Node>),
    /// `(base, argument)`; base `None` means 10 for `\log`.
    Log(Option<Box<Node>>, Box<Node>),
    Fact(Box<Node>),
    Binom(Box<Node>, Box<Node>),
    Abs(Box<Node>),
    Percent(Box<Node>),
    /// `a \pm b`.
    Pm(Box<Node>, Box<Node>),
    Text(String),
    /// `(a, b, …)` or `[a, b, c…]`. A parenthesised pair may also be an open interval.
    Tuple(Vec<Node>),
    /// `(lo_closed, lo, hi, hi_closed)`.
    Interval(bool, Box<Node>, Box<Node>, bool),
    Set(Vec<Node>),
    Matrix(Vec<Vec<Node>>),
    Union(Vec<Node>),
    /// A bare comma-separated list: several answers.
    List(Vec<Node>),
    /// A chain `a op b op c`. Invariant: `sides.len() == ops.len() + 1`.
    Rel(Vec<Node>, Vec<RelOp>),
    /// A value with a unit of measure (`5 km`). Labels that are not units (`apples`)
    /// leave no trace in the tree.
    Quantity(Box<Node>, Unit),
    /// `\max(…)` (`true`) or `\min(…)` of at least one value.
    Extremum(bool, Vec<Node>),
}

pub(crate) fn int(n: i64) -> Node {
    Node::Num(BigRational::from_integer(BigInt::from(n)), None)
}

pub(crate) fn parse(toks: &[Token]) -> Option<Node> {
    if toks.is_empty() {
        return None;
    }
    let mut p = Parser { toks, pos: 0, depth: 0, backtracks: 0 };
    let items = p.list(&|_| false)?;
    if p.pos != toks.len() {
        return None;
    }
    Some(if items.len() == 1 { items.into_iter().next()? } else { Node::List(items) })
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    depth: usize,
    backtracks: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k).map(|t| &t.tok)
    }

    fn eat_sym(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn is_cmd(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Cmd(n)) if n == name)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Items separated by commas (or semicolons) up to a token `stop` accepts.
    fn list(&mut self, stop: &dyn Fn(&Tok) -> bool) -> Option<Vec<Node>> {
        let mut items = Vec::new();
        loop {
            if self.peek().is_none_or(stop) {
                // Empty collections (`\{\}`) and a trailing comma are fine.
                return Some(items);
            }
            items.push(self.union()?);
            if items.len() > MAX_ITEMS {
                return None;
            }
            if !(self.eat_sym(',') || self.eat_sym(';')) {
                return Some(items);
            }
            // "2, and 3" / "2 or 3".
            while matches!(self.peek(), Some(Tok::Word(w)) | Some(Tok::Text(w)) if w == "and" || w == "or")
            {
                self.pos += 1;
            }
        }
    }

    fn union(&mut self) -> Option<Node> {
        let first = self.rel()?;
        let mut parts = vec![first];
        while self.is_cmd("cup") {
            self.pos += 1;
            parts.push(self.rel()?);
            if parts.len() > MAX_ITEMS {
                return None;
            }
        }
        // "2 and 3" with no comma also lists answers.
        while matches!(self.peek(), Some(Tok::Word(w)) | Some(Tok::Text(w)) if w == "and" || w == "or")
        {
            self.pos += 1;
            let next = self.rel()?;
            let first = parts.pop()?;
            let merged = match first {
                Node::List(mut v) => {
                    v.push(next);
                    Node::List(v)
                }
                other => Node::List(vec![other, next]),
            };
            parts.push(merged);
        }
        Some(if parts.len() == 1 { parts.pop()? } else { Node::Union(parts) })
    }

    fn relop(&mut self) -> Option<RelOp> {
        let op = match self.peek()? {
            Tok::Sym('=') => RelOp::Eq,
            Tok::Sym('<') => {
                if self.peek_at(1) == Some(&Tok::Sym('=')) {
                    self.pos += 1;
                    RelOp::Le
                } else {
                    RelOp::Lt
                }
            }
            Tok::Sym('>') => {
                if self.peek_at(1) == Some(&Tok::Sym('=')) {
                    self.pos += 1;
                    RelOp::Ge
                } else {
                    RelOp::Gt
                }
            }
            Tok::Sym('!') if self.peek_at(1) == Some(&Tok::Sym('=')) => {
                self.pos += 1;
                RelOp::Ne
            }
            Tok::Cmd(c) => match c.as_str() {
                "le" => RelOp::Le,
                "ge" => RelOp::Ge,
                "ne" => RelOp::Ne,
                "in" => RelOp::In,
                "approx" => RelOp::Approx,
                _ => return None,
            },
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn rel(&mut self) -> Option<Node> {
        // "≈ 3.14", "about 5": the value is what follows.
        while self.is_cmd("approx")
            || self.word_is(&["about", "approximately", "approx", "roughly", "around"])
        {
            self.pos += 1;
        }
        let first = self.expr()?;
        let mut sides = vec![first];
        let mut ops = Vec::new();
        while let Some(op) = self.relop() {
            ops.push(op);
            sides.push(self.expr()?);
            if ops.len() > 8 {
                return None;
            }
        }
        Some(if ops.is_empty() { sides.pop()? } else { Node::Rel(sides, ops) })
    }

    fn expr(&mut self) -> Option<Node> {
        self.enter()?;
        let r = self.expr_inner();
        self.leave();
        r
    }

    fn expr_inner(&mut self) -> Option<Node> {
        let mut terms = vec![self.term()?];
        loop {
            if self.eat_sym('+') || self.eat_op_word(&["plus"]) {
                terms.push(self.term()?);
            } else if self.eat_sym('-') || self.eat_op_word(&["minus"]) {
                terms.push(Node::Neg(Box::new(self.term()?)));
            } else if self.is_cmd("pm") || self.is_cmd("mp") {
                self.pos += 1;
                let rhs = self.term()?;
                let lhs = if terms.len() == 1 {
                    terms.pop()?
                } else {
                    Node::Add(std::mem::take(&mut terms))
                };
                terms = vec![Node::Pm(Box::new(lhs), Box::new(rhs))];
            } else {
                break;
            }
            if terms.len() > MAX_ITEMS {
                return None;
            }
        }
        Some(if terms.len() == 1 { terms.pop()? } else { Node::Add(terms) })
    }

    /// Whether the next token can start an implicit product factor. A number cannot:
    /// `2 3` is no notation for 6 (and `1 1/2` is a mixed number, read in `primary`).
    fn starts_factor(&self) -> bool {
        match self.peek() {
            Some(Tok::Ident(_)) | Some(Tok::Sym('(')) | Some(Tok::Sym('{')) => true,
            Some(Tok::Cmd(c)) => !matches!(
                c.as_str(),
                "le" | "ge"
                    | "ne"
                    | "in"
                    | "cup"
                    | "cap"
                    | "pm"
                    | "mp"
                    | "times"
                    | "cdot"
                    | "div"
                    | "to"
                    | "dots"
                    | "approx"
                    | "quad"
                    | "text"
            ),
            _ => false,
        }
    }

    /// The lower-cased word at `pos + k`, if a `Word` token is there.
    fn word_at(&self, k: usize) -> Option<String> {
        match self.peek_at(k) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn word_is(&self, words: &[&str]) -> bool {
        self.word_at(0).is_some_and(|w| words.contains(&w.as_str()))
    }

    /// Whether the token at `pos + k` can start an operand.
    fn operand_at(&self, k: usize) -> bool {
        match self.peek_at(k) {
            Some(Tok::Num(..)) | Some(Tok::Ident(_)) | Some(Tok::SetOpen) => true,
            Some(Tok::Sym(c)) => "({|-".contains(*c),
            Some(Tok::Cmd(c)) => {
                !matches!(c.as_str(), "le" | "ge" | "ne" | "in" | "cup" | "approx" | "times")
            }
            Some(Tok::Word(w)) => matches!(w.as_str(), "minus" | "negative"),
            _ => false,
        }
    }

    /// Eats an operator written as a word (`plus`, `times`, `divided by`) when an
    /// operand follows it; `3 times` alone is an answer with a label, not a product.
    fn eat_op_word(&mut self, words: &[&str]) -> bool {
        if !self.word_is(words) {
            return false;
        }
        let by = self.word_at(1).as_deref() == Some("by");
        let skip = if by { 2 } else { 1 };
        if !self.operand_at(skip) {
            return false;
        }
        self.pos += skip;
        true
    }

    fn term(&mut self) -> Option<Node> {
        let mut acc = self.unary()?;
        let mut count = 0usize;
        loop {
            count += 1;
            if count > MAX_ITEMS {
                return None;
            }
            if self.is_cmd("times") || self.is_cmd("cdot") {
                self.pos += 1;
                let rhs = self.unary()?;
                acc = mul(acc, rhs);
            } else if self.eat_sym('*') || self.eat_op_word(&["times", "multiplied"]) {
                let rhs = self.unary()?;
                acc = mul(acc, rhs);
            } else if self.is_cmd("div")
                || self.eat_sym('/')
                || self.eat_op_word(&["over", "divided"])
            {
                if self.is_cmd("div") {
                    self.pos += 1;
                }
                let rhs = self.unary()?;
                acc = Node::Div(Box::new(acc), Box::new(rhs));
            } else if self.word_is(&["percent"]) {
                self.pos += 1;
                acc = Node::Percent(Box::new(acc));
            } else if let Some(m) = self.word_at(0).as_deref().and_then(magnitude) {
                // "4 million", "2.5 thousand": part of the number, never a unit.
                self.pos += 1;
                acc = mul(acc, int(m));
            } else if let Some(k) = self.word_at(0).as_deref().and_then(power_word) {
                self.pos += 1;
                acc = Node::Pow(Box::new(acc), Box::new(int(k)));
            } else if self.starts_label() {
                let unit = self.label()?;
                if !self.at_item_end() {
                    // Words in the middle of an answer ("5 apples 3") are not a label.
                    return None;
                }
                return Some(match unit {
                    Some(u) => Node::Quantity(Box::new(acc), u),
                    None => acc,
                });
            } else if self.starts_factor() {
                let rhs = self.power()?;
                acc = mul(acc, rhs);
            } else if self.peek() == Some(&Tok::Sym('|')) && self.backtracks < MAX_BACKTRACKS {
                // `2|x|` multiplies, but in `|2|x||` the bar after 2 closes: try the
                // product and undo it if it does not parse.
                self.backtracks += 1;
                let save = self.pos;
                match self.power() {
                    Some(rhs) => acc = mul(acc, rhs),
                    None => {
                        self.pos = save;
                        return Some(acc);
                    }
                }
            } else {
                return Some(acc);
            }
        }
    }

    fn starts_label(&self) -> bool {
        match self.peek() {
            Some(Tok::Word(w)) if matches!(w.to_ascii_lowercase().as_str(), "plus" | "minus") => {
                // "2 plus 3" is a sum; a bare "5 minus" is not.
                false
            }
            Some(Tok::Word(w)) | Some(Tok::Text(w)) => {
                !matches!(w.to_ascii_lowercase().as_str(), "and" | "or")
            }
            _ => false,
        }
    }

    /// Whether the next token ends an item of an answer: the end, a separator, a
    /// closing bracket, a relation or a conjunction.
    fn at_item_end(&self) -> bool {
        match self.peek() {
            None | Some(Tok::SetClose) | Some(Tok::RowSep) | Some(Tok::End(_)) => true,
            Some(Tok::Sym(c)) => ",;)]}=<>&!".contains(*c),
            Some(Tok::Cmd(c)) => {
                matches!(c.as_str(), "le" | "ge" | "ne" | "in" | "cup" | "approx")
            }
            Some(Tok::Word(w)) | Some(Tok::Text(w)) => {
                matches!(w.to_ascii_lowercase().as_str(), "and" | "or")
            }
            _ => false,
        }
    }

    /// Reads the words after a value (`apples`, `square feet`, `km/h`, `cm^2`) and
    /// returns the unit they name, or `Some(None)` for a label that names no unit.
    /// `None` when the words name a unit in a shape we cannot read (`km per`).
    fn label(&mut self) -> Option<Option<Unit>> {
        let mut words: Vec<String> = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Word(w)) | Some(Tok::Text(w)) if !matches!(w.as_str(), "and" | "or") => {
                    words.extend(w.split_whitespace().map(|x| x.to_ascii_lowercase()));
                    self.pos += 1;
                }
                Some(Tok::Sym('/')) if !words.is_empty() => match self.peek_at(1) {
                    Some(Tok::Word(w)) | Some(Tok::Ident(w)) => {
                        words.push("per".to_string());
                        words.push(w.to_ascii_lowercase());
                        self.pos += 2;
                    }
                    _ => return None,
                },
                Some(Tok::Sym('^')) if !words.is_empty() => {
                    self.pos += 1;
                    let braced = self.eat_sym('{');
                    let k = match self.peek() {
                        Some(Tok::Num(d, 0)) if d.len() == 1 => d.clone(),
                        _ => return None,
                    };
                    self.pos += 1;
                    if braced && !self.eat_sym('}') {
                        return None;
                    }
                    words.push(format!("^{k}"));
                }
                _ => break,
            }
            if words.len() > 16 {
                return None;
            }
        }
        unit_of(&words)
    }
    fn unary(&mut self) -> Option<Node> {
        self.enter()?;
        let r = if self.eat_sym('-') || self.eat_op_word(&["minus", "negative"]) {
            self.unary().map(|n| Node::Neg(Box::new(n)))
        } else if self.eat_sym('+') {
            self.unary()
        } else if self.is_cmd("pm") || self.is_cmd("mp") {
            self.pos += 1;
            self.unary().map(|n| Node::Pm(Box::new(int(0)), Box::new(n)))
        } else {
            self.power()
        };
        self.leave();
        r
    }

    fn power(&mut self) -> Option<Node> {
        self.enter()?;
        let r = self.power_inner();
        self.leave();
        r
    }

    fn power_inner(&mut self) -> Option<Node> {
        let base = self.postfix()?;
        if self.eat_sym('^') {
            let exp = self.exponent()?;
            let node = Node::Pow(Box::new(base), Box::new(exp));
            return self.postfix_ops(node);
        }
        Some(base)
    }

    fn exponent(&mut self) -> Option<Node> {
        if self.eat_sym('-') {
            return Some(Node::Neg(Box::new(self.exponent()?)));
        }
        // `x^2y`: the exponent is one token unless braced.
        let e = self.primary()?;
        if self.eat_sym('^') {
            let e2 = self.exponent()?;
            return Some(Node::Pow(Box::new(e), Box::new(e2)));
        }
        Some(e)
    }

    fn postfix(&mut self) -> Option<Node> {
        let p = self.primary()?;
        self.postfix_ops(p)
    }

    fn postfix_ops(&mut self, mut node: Node) -> Option<Node> {
        loop {
            if self.peek() == Some(&Tok::Sym('!')) && self.peek_at(1) != Some(&Tok::Sym('=')) {
                self.pos += 1;
                node = Node::Fact(Box::new(node));
            } else if self.eat_sym('%') {
                node = Node::Percent(Box::new(node));
            } else if self.eat_sym('\'') {
                // Primes (feet, derivatives) carry no value we can check.
            } else {
                return Some(node);
            }
        }
    }

    fn subscript(&mut self) -> Option<String> {
        if self.eat_sym('{') {
            let mut s = String::new();
            while let Some(t) = self.peek() {
                match t {
                    Tok::Sym('}') => {
                        self.pos += 1;
                        return Some(s);
                    }
                    Tok::Num(d, 0) => s.push_str(d),
                    Tok::Ident(x) | Tok::Word(x) | Tok::Text(x) => s.push_str(x),
                    Tok::Cmd(x) => s.push_str(x),
                    _ => return None,
                }
                self.pos += 1;
                if s.len() > 32 {
                    return None;
                }
            }
            None
        } else {
            let s = match self.peek()? {
                Tok::Num(d, 0) => d.clone(),
                Tok::Ident(x) => x.clone(),
                Tok::Cmd(x) => x.clone(),
                _ => return None,
            };
            self.pos += 1;
            Some(s)
        }
    }

    fn group_until(&mut self, close: char) -> Option<Node> {
        let items = self.list(&|t| *t == Tok::Sym(close))?;
        if !self.eat_sym(close) {
            return None;
        }
        match items.len() {
            0 => None,
            1 => items.into_iter().next(),
            _ => Some(Node::List(items)),
        }
    }

    fn primary(&mut self) -> Option<Node> {
        self.enter()?;
        let r = self.primary_inner();
        self.leave();
        r
    }

    fn primary_inner(&mut self) -> Option<Node> {
        let tok = self.peek()?.clone();
        self.pos += 1;
        match tok {
            Tok::Num(d, e) => {
                if self.peek() == Some(&Tok::Sym('_')) && e == 0 && !d.contains('.') {
                    self.pos += 1;
                    let sub = self.subscript()?;
                    let base: u32 = sub.parse().ok().filter(|b| (2..=36).contains(b))?;
                    return Some(Node::Base(d, base));
                }
                let n = num_literal(&d, e)?;
                if let Some(mixed) = self.mixed_number(&n, &d, e) {
                    return Some(mixed);
                }
                // A mixed number: `2\frac{1}{2}` is two and a half.
                if e == 0 && !d.contains('.') && self.is_cmd("frac") {
                    let save = self.pos;
                    self.pos += 1;
                    if let (Some(Node::Num(a, None)), Some(Node::Num(b, None))) =
                        (self.frac_int(), self.frac_int())
                    {
                        if !b.is_zero() {
                            return Some(Node::Add(vec![
                                n,
                                Node::Div(
                                    Box::new(Node::Num(a, None)),
                                    Box::new(Node::Num(b, None)),
                                ),
                            ]));
                        }
                    }
                    self.pos = save;
                }
                Some(n)
            }
            Tok::Ident(x) => {
                let name = if self.eat_sym('_') { format!("{x}_{}", self.subscript()?) } else { x };
                Some(match name.as_str() {
                    "i" => Node::Const(Const::I),
                    "e" => Node::Const(Const::E),
                    _ => Node::Var(name),
                })
            }
            Tok::Sym('(') | Tok::Sym('[') => {
                let open = tok == Tok::Sym('(');
                let items = self.list(&|t| matches!(t, Tok::Sym(')') | Tok::Sym(']')))?;
                let close = match self.peek()? {
                    Tok::Sym(')') => false,
                    Tok::Sym(']') => true,
                    _ => return None,
                };
                self.pos += 1;
                let mut items = items;
                match items.len() {
                    0 => None,
                    // `(x)` and `[x]` group; `(x]` means nothing.
                    1 if open != close => items.pop(),
                    1 => None,
                    2 if open && !close => Some(Node::Tuple(items)),
                    2 => {
                        let hi = items.pop()?;
                        let lo = items.pop()?;
                        Some(Node::Interval(!open, Box::new(lo), Box::new(hi), close))
                    }
                    _ if open != close => Some(Node::Tuple(items)),
                    _ => None,
                }
            }
            Tok::Sym('{') => self.group_until('}'),
            Tok::SetOpen => {
                let items = self.list(&|t| *t == Tok::SetClose)?;
                if self.peek() != Some(&Tok::SetClose) {
                    return None;
                }
                self.pos += 1;
                Some(Node::Set(items))
            }
            Tok::Sym('|') => {
                let inner = self.expr()?;
                if !self.eat_sym('|') {
                    return None;
                }
                Some(Node::Abs(Box::new(inner)))
            }
            Tok::Begin(env) => self.matrix(&env),
            Tok::Text(t) | Tok::Word(t) => {
                let mut s = t;
                while let Some(Tok::Word(w)) | Some(Tok::Text(w)) = self.peek() {
                    if w == "and" || w == "or" {
                        break;
                    }
                    s.push(' ');
                    s.push_str(w);
                    self.pos += 1;
                    if s.len() > 256 {
                        return None;
                    }
                }
                Some(Node::Text(s))
            }
            Tok::Cmd(c) => self.command(&c),
            _ => None,
        }
    }

    /// `4 1/2`, four and a half: an integer, a space, then a proper fraction of
    /// integers. Anything else after a number and a space is not a number.
    fn mixed_number(&mut self, whole: &Node, d: &str, e: i64) -> Option<Node> {
        if e != 0 || d.contains('.') {
            return None;
        }
        let spaced = self.toks.get(self.pos).is_some_and(|t| t.spaced);
        let int_at = |k: usize| match self.peek_at(k) {
            Some(Tok::Num(x, 0)) if !x.contains('.') => Some(x.clone()),
            _ => None,
        };
        let (a, b) = (int_at(0)?, int_at(2)?);
        if !spaced || self.peek_at(1) != Some(&Tok::Sym('/')) {
            return None;
        }
        if matches!(self.peek_at(3), Some(Tok::Sym('^')) | Some(Tok::Num(..)) | Some(Tok::Sym('!')))
        {
            return None;
        }
        let (Some(Node::Num(a, _)), Some(Node::Num(b, _))) =
            (num_literal(&a, 0), num_literal(&b, 0))
        else {
            return None;
        };
        if b.is_zero() || a >= b {
            return None;
        }
        self.pos += 3;
        Some(Node::Add(vec![whole.clone(), Node::Num(a / b, None)]))
    }

    /// An integer argument of `\frac`: `{12}` or a bare digit (`\frac12`).
    fn frac_int(&mut self) -> Option<Node> {
        if let Some(Tok::Num(d, 0)) = self.peek() {
            if d.len() == 1 {
                let n = num_literal(d, 0)?;
                self.pos += 1;
                return Some(n);
            }
            return None;
        }
        if !self.eat_sym('{') {
            return None;
        }
        let n = match self.peek()? {
            Tok::Num(d, 0) if !d.contains('.') => num_literal(d, 0)?,
            _ => return None,
        };
        self.pos += 1;
        if !self.eat_sym('}') {
            return None;
        }
        Some(n)
    }

    fn command(&mut self, c: &str) -> Option<Node> {
        let func = |f: Func| Some(f);
        let f = match c {
            "pi" => return Some(Node::Const(Const::Pi)),
            "infty" | "inf" => return Some(Node::Const(Const::Inf)),
            "emptyset" | "varnothing" => return Some(Node::Set(Vec::new())),
            "max" | "min" => {
                let items = if self.eat_sym('(') {
                    let v = self.list(&|t| *t == Tok::Sym(')'))?;
                    self.eat_sym(')').then_some(v)?
                } else if self.peek() == Some(&Tok::SetOpen) {
                    self.pos += 1;
                    let v = self.list(&|t| *t == Tok::SetClose)?;
                    (self.peek() == Some(&Tok::SetClose)).then_some(())?;
                    self.pos += 1;
                    v
                } else {
                    return None;
                };
                if items.is_empty() {
                    return None;
                }
                return Some(Node::Extremum(c == "max", items));
            }
            "frac" => {
                let a = self.frac_arg()?;
                let b = self.frac_arg()?;
                return Some(Node::Div(Box::new(a), Box::new(b)));
            }
            "binom" => {
                let a = self.frac_arg()?;
                let b = self.frac_arg()?;
                return Some(Node::Binom(Box::new(a), Box::new(b)));
            }
            "sqrt" => {
                let index = if self.eat_sym('[') {
                    let n = self.expr()?;
                    if !self.eat_sym(']') {
                        return None;
                    }
                    n
                } else {
                    int(2)
                };
                let x = self.frac_arg()?;
                return Some(Node::Root(Box::new(index), Box::new(x)));
            }
            "sin" => func(Func::Sin),
            "cos" => func(Func::Cos),
            "tan" => func(Func::Tan),
            "sec" => func(Func::Sec),
            "csc" => func(Func::Csc),
            "cot" => func(Func::Cot),
            "arcsin" => func(Func::Asin),
            "arccos" => func(Func::Acos),
            "arctan" => func(Func::Atan),
            "sinh" => func(Func::Sinh),
            "cosh" => func(Func::Cosh),
            "tanh" => func(Func::Tanh),
            "ln" => func(Func::Ln),
            "log" | "exp" => None,
            "alpha" | "beta" | "gamma" | "delta" | "theta" | "phi" | "varphi" | "lambda" | "mu"
            | "sigma" | "omega" | "tau" | "rho" | "psi" | "eta" | "xi" | "zeta" | "nu"
            | "kappa" | "epsilon" | "varepsilon" | "chi" | "Delta" | "Omega" => {
                return Some(Node::Var(c.to_string()));
            }
            _ => return None,
        };
        if c == "log" {
            let base = if self.eat_sym('_') { Some(Box::new(self.exponent()?)) } else { None };
            let arg = self.func_arg()?;
            return Some(Node::Log(base, Box::new(arg)));
        }
        if c == "exp" {
            let arg = self.func_arg()?;
            return Some(Node::Pow(Box::new(Node::Const(Const::E)), Box::new(arg)));
        }
        let f = f?;
        // `\sin^2 x` squares the value; `\sin^{-1}` is the inverse.
        let power = if self.eat_sym('^') { Some(self.exponent()?) } else { None };
        let arg = self.func_arg()?;
        if let Some(p) = power {
            if p == Node::Neg(Box::new(int(1))) {
                let inv = match f {
                    Func::Sin => Func::Asin,
                    Func::Cos => Func::Acos,
                    Func::Tan => Func::Atan,
                    _ => return None,
                };
                return Some(Node::Func(inv, Box::new(arg)));
            }
            return Some(Node::Pow(Box::new(Node::Func(f, Box::new(arg))), Box::new(p)));
        }
        Some(Node::Func(f, Box::new(arg)))
    }

    fn func_arg(&mut self) -> Option<Node> {
        match self.peek()? {
            Tok::Sym('(') | Tok::Sym('{') => self.power(),
            _ => {
                // `\sin 2x` is read as sin(2x), the usual convention.
                let mut acc = self.power()?;
                while matches!(self.peek(), Some(Tok::Ident(_)) | Some(Tok::Cmd(_)))
                    && self.starts_factor()
                    && !self.is_cmd("frac")
                {
                    let rhs = self.power()?;
                    acc = mul(acc, rhs);
                }
                Some(acc)
            }
        }
    }

    /// An argument of `\frac`, `\sqrt` or `\binom`: a braced group or one token (the
    /// tokeniser already split `\frac12` into single digits, as TeX reads it).
    fn frac_arg(&mut self) -> Option<Node> {
        if self.eat_sym('{') {
            return self.group_until('}');
        }
        match self.peek()? {
            Tok::Num(..) | Tok::Ident(_) | Tok::Cmd(_) => self.primary(),
            _ => None,
        }
    }
}

impl Parser<'_> {
    /// The rows of a matrix environment; cells split by `&`, rows by `\\`.
    fn matrix(&mut self, env: &str) -> Option<Node> {
        // `vmatrix` is a determinant, a number we do not compute.
        if !matches!(env, "pmatrix" | "bmatrix" | "Bmatrix" | "matrix" | "smallmatrix" | "array") {
            return None;
        }
        let mut rows: Vec<Vec<Node>> = Vec::new();
        let mut row: Vec<Node> = Vec::new();
        loop {
            match self.peek()? {
                Tok::End(e) => {
                    if e != env {
                        return None;
                    }
                    self.pos += 1;
                    if !row.is_empty() {
                        rows.push(row);
                    }
                    break;
                }
                Tok::RowSep => {
                    self.pos += 1;
                    if !row.is_empty() {
                        rows.push(std::mem::take(&mut row));
                    }
                }
                Tok::Sym('&') => self.pos += 1,
                _ => {
                    row.push(self.rel()?);
                    if row.len() > MAX_ITEMS || rows.len() > MAX_ITEMS {
                        return None;
                    }
                }
            }
        }
        let width = rows.first()?.len();
        if rows.iter().any(|r| r.len() != width) {
            return None;
        }
        Some(Node::Matrix(rows))
    }
}

fn mul(a: Node, b: Node) -> Node {
    match a {
        Node::Mul(mut v) => {
            v.push(b);
            Node::Mul(v)
        }
        other => Node::Mul(vec![other, b]),
    }
}

/// An exact value for a decimal literal with a power-of-ten exponent.
pub(crate) fn num_literal(d: &str, exp: i64) -> Option<Node> {
    let (int_part, frac_part) = match d.split_once('.') {
        Some((a, b)) => (a, b),
        None => (d, ""),
    };
    let digits = format!("{int_part}{frac_part}");
    let mantissa: BigInt = digits.parse().ok()?;
    let scale = exp - frac_part.len() as i64;
    if scale.unsigned_abs() > 20_000 {
        return None;
    }
    let ten = BigInt::from(10);
    let p = num_traits::pow(ten, scale.unsigned_abs() as usize);
    let value = if scale >= 0 {
        BigRational::from_integer(mantissa * p)
    } else {
        BigRational::new(mantissa, p)
    };
    let places = if d.contains('.') && exp == 0 { Some(frac_part.len() as u32) } else { None };
    Some(Node::Num(value, places))
}

/// The value of a magnitude word that multiplies the number before it.
fn magnitude(w: &str) -> Option<i64> {
    Some(match w {
        "dozen" => 12,
        "hundred" => 100,
        "thousand" => 1_000,
        "million" => 1_000_000,
        "billion" => 1_000_000_000,
        "trillion" => 1_000_000_000_000,
        _ => return None,
    })
}

/// The exponent a power word applies to the value before it.
fn power_word(w: &str) -> Option<i64> {
    match w {
        "squared" => Some(2),
        "cubed" => Some(3),
        _ => None,
    }
}

/// The unit a label's words name. Words before the unit describe what is counted
/// (`12 more minutes`, `5 apples per day`); then `[square|cubic] unit [^k]`, optionally
/// `per` another, then any words that are not units (`5 feet tall`). `Some(None)` when
/// the label names no unit (`apples`); `None` when a unit appears in a shape we cannot
/// read (`km per`).
fn unit_of(words: &[String]) -> Option<Option<Unit>> {
    fn one(words: &[String], i: &mut usize) -> Option<Unit> {
        let prefix = words.get(*i).and_then(|w| power_prefix(w));
        if prefix.is_some() {
            *i += 1;
        }
        let mut unit = Unit::word(words.get(*i)?)?;
        *i += 1;
        let mut k = prefix.unwrap_or(1);
        if let Some(p) = words.get(*i).and_then(|w| w.strip_prefix('^')) {
            k *= p.parse::<i32>().ok()?;
            *i += 1;
        }
        if k != 1 {
            unit = unit.pow(k);
        }
        Some(unit)
    }
    // "in" names inches only where a unit is expected first ("5 in"), not in "5 apples
    // in all".
    let is_unit_at = |i: usize| {
        let w = &words[i];
        (Unit::word(w).is_some() || power_prefix(w).is_some()) && (i == 0 || w != "in")
    };
    let Some(start) = (0..words.len()).find(|&i| is_unit_at(i)) else {
        return Some(None);
    };
    let mut i = start;
    let per_count = start > 0 && words[start - 1] == "per";
    let mut unit = one(words, &mut i)?;
    if per_count {
        unit = unit.pow(-1);
    } else if words.get(i).is_some_and(|w| w == "per") {
        i += 1;
        unit = unit.per(&one(words, &mut i)?);
    }
    if words[i..].iter().any(|w| w.starts_with('^') || w == "per") {
        return None;
    }
    Some(Some(unit))
}
