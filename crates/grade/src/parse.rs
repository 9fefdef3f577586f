//! A recursive-descent parser from answer tokens to a small math tree.
//!
//! The grammar is forgiving about what people write in final answers (implicit
//! products, `\frac12`, mixed numbers, units after numbers) but refuses anything it does
//! not understand: an unparsed answer is compared as a string, never guessed at.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;

use crate::lex::{is_unit_word, Tok, Token};

/// Nesting deeper than this is refused; it bounds stack use on hostile input.
const MAX_DEPTH: usize = 64;
/// Most elements in one list, tuple, set or matrix row.
const MAX_ITEMS: usize = 256;

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
}

pub(crate) fn int(n: i64) -> Node {
    Node::Num(BigRational::from_integer(BigInt::from(n)), None)
}

pub(crate) fn parse(toks: &[Token]) -> Option<Node> {
    if toks.is_empty() {
        return None;
    }
    let mut p = Parser { toks, pos: 0, depth: 0 };
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
                _ => return None,
            },
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn rel(&mut self) -> Option<Node> {
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
            if self.eat_sym('+') {
                terms.push(self.term()?);
            } else if self.eat_sym('-') {
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

    /// Whether the next token can start an implicit product factor.
    fn starts_factor(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(..)) | Some(Tok::Ident(_)) | Some(Tok::Sym('('))
            | Some(Tok::Sym('{')) => true,
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

    fn skip_unit(&mut self) -> bool {
        let is_unit = match self.peek() {
            Some(Tok::Word(w)) => is_unit_word(w) || w.len() >= 2,
            Some(Tok::Text(_)) => true,
            _ => false,
        };
        if !is_unit {
            return false;
        }
        // Only a trailing unit (possibly several words and a square/cube) is skipped;
        // "2 and 3" and text answers go elsewhere.
        if matches!(self.peek(), Some(Tok::Word(w)) | Some(Tok::Text(w)) if w == "and" || w == "or")
        {
            return false;
        }
        self.pos += 1;
        if self.peek() == Some(&Tok::Sym('^')) {
            if matches!(self.peek_at(1), Some(Tok::Num(..))) {
                self.pos += 2;
            } else if self.peek_at(1) == Some(&Tok::Sym('{'))
                && matches!(self.peek_at(2), Some(Tok::Num(..)))
                && self.peek_at(3) == Some(&Tok::Sym('}'))
            {
                self.pos += 4;
            }
        }
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
            if self.is_cmd("times") || self.is_cmd("cdot") || self.peek() == Some(&Tok::Sym('*')) {
                self.pos += 1;
                let rhs = self.unary()?;
                acc = mul(acc, rhs);
            } else if self.is_cmd("div") || self.peek() == Some(&Tok::Sym('/')) {
                self.pos += 1;
                let rhs = self.unary()?;
                acc = Node::Div(Box::new(acc), Box::new(rhs));
            } else if matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case("percent"))
            {
                self.pos += 1;
                acc = Node::Percent(Box::new(acc));
            } else if self.skip_unit() {
                continue;
            } else if self.starts_factor() {
                let rhs = self.power()?;
                acc = mul(acc, rhs);
            } else {
                return Some(acc);
            }
        }
    }

    fn unary(&mut self) -> Option<Node> {
        self.enter()?;
        let r = if self.eat_sym('-') {
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
                // A mixed number: `2\frac{1}{2}` is two and a half.
                if e == 0 && !d.contains('.') && self.is_cmd("frac") {
                    let save = self.pos;
                    self.pos += 1;
                    if let (Some(Node::Num(a, None)), Some(Node::Num(b, None))) =
                        (self.braced_int(), self.braced_int())
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

    fn braced_int(&mut self) -> Option<Node> {
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
