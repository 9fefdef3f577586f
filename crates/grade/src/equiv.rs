//! Deciding whether a predicted answer is the gold answer.

use num_bigint::BigInt;
use num_complex::Complex64;
use num_rational::BigRational;
use num_traits::{Signed, Zero};

use crate::eval::{self, approx, exact, free_vars, Approx};
use crate::lex;
use crate::parse::{self, Const, Node, RelOp};

/// How a percent sign relates to the number it follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PercentPolicy {
    /// `x\%` is the number x/100, and one dropped sign is forgiven where the answer is
    /// known to be a percentage: a gold `50\%` also matches `50` (the gold says the
    /// answer is a percentage), and a gold `50` matches `50\%` only when the question
    /// asks for a percentage ([`Checker::asks_for_percent`]). So `0.5` matches `50\%`
    /// but not `0.5\%`, and `50\%` never matches `0.5\%`.
    #[default]
    Lenient,
    /// `50\%` is the number 0.5 and nothing else.
    Value,
    /// The sign is decoration: `50\%` is 50 and does not match 0.5.
    Ignore,
}

/// A configurable answer checker. The gold answer always comes first: some rules
/// (rounded golds, `x=` prefixes, lists read as sets) are generous to the prediction
/// only in the direction that the gold answer licenses.
///
/// ```
/// use hypatia_grade::{Checker, PercentPolicy};
/// let c = Checker::default();
/// assert!(c.equivalent(r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt3}"));
/// assert!(!c.equivalent("0.001", "0.0015"));
/// assert!(c.equivalent(r"50\%", "0.5"));
/// assert!(!Checker::default().percent_policy(PercentPolicy::Ignore).equivalent(r"50\%", "0.5"));
/// // A question that asks for rounding licenses it; without one a decimal is exact.
/// let q = "What is 1/3 as a decimal, to the nearest hundredth?";
/// assert!(Checker::default().with_question(q).equivalent("0.33", r"\frac{1}{3}"));
/// assert!(!c.equivalent("0.33", r"\frac{1}{3}"));
/// ```
#[derive(Clone, Debug)]
pub struct Checker {
    percent: PercentPolicy,
    /// Decimal places the gold answer was rounded to (negative: to tens, hundreds),
    /// when the question says so.
    rounding: Option<i32>,
    /// The question asks for a percentage, so a gold without its `%` may be matched by a
    /// prediction with one.
    asks_percent: bool,
    /// Invariant: `1e-15 <= rel_tol <= 1e-3`.
    rel_tol: f64,
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            percent: PercentPolicy::Lenient,
            rounding: None,
            asks_percent: false,
            rel_tol: 1e-9,
        }
    }
}

/// Points at which symbolic answers are compared; a few more than needed so that
/// domain holes (a pole, a log of a negative) can be skipped.
const POINTS: u64 = 12;
const MIN_AGREEING_POINTS: usize = 3;
const MAX_SET: usize = 64;

/// An interval `(lo_closed, lo, hi, hi_closed)`.
type Iv = (bool, Node, Node, bool);

impl Checker {
    /// Sets how `%` is read; see [`PercentPolicy`].
    pub fn percent_policy(mut self, p: PercentPolicy) -> Self {
        self.percent = p;
        self
    }

    /// The gold answer was rounded to `places` decimal places (negative: to tens,
    /// hundreds), so a prediction matches when it rounds to the gold there (`1/3`,
    /// `0.333` and `\sqrt{0.11}` all match a gold `0.33` rounded to 2 places). `None`
    /// (the default): a decimal gold is exact, and `0.5` does not match `7/15`.
    pub fn rounded_to(mut self, places: Option<i32>) -> Self {
        self.rounding = places.map(|p| p.clamp(-12, 300));
        self
    }

    /// Whether the question asks for a percentage: then a gold `25` (the percentage
    /// without its sign, as GSM8K writes it) also matches `25\%`.
    pub fn asks_for_percent(mut self, yes: bool) -> Self {
        self.asks_percent = yes;
        self
    }

    /// The rounding and percentage licences that the question states: "to the nearest
    /// tenth", "to 2 decimal places", "nearest whole number" license rounding at those
    /// places; "percent" or "percentage" in the sentence that asks licenses a gold
    /// without its `%`.
    ///
    /// ```
    /// use hypatia_grade::Checker;
    /// let c = Checker::default().with_question("What percent of 80 is 20?");
    /// assert!(c.equivalent("25", r"25\%"));
    /// assert!(!Checker::default().equivalent("25", r"25\%"));
    /// let c = Checker::default().with_question("Round your answer to the nearest tenth.");
    /// assert!(c.equivalent("2.2", r"\sqrt{5}"));
    /// ```
    pub fn with_question(self, question: &str) -> Self {
        let l = crate::question::licences(question);
        self.rounded_to(l.rounded_to).asks_for_percent(l.asks_percent)
    }

    /// Relative tolerance used only for values that are irrational or symbolic,
    /// where floating point is all we have. Clamped to `[1e-15, 1e-3]`.
    pub fn relative_tolerance(mut self, tol: f64) -> Self {
        self.rel_tol = if tol.is_nan() { 1e-9 } else { tol.clamp(1e-15, 1e-3) };
        self
    }

    /// Whether `pred` is a correct answer when `gold` is the reference.
    pub fn equivalent(&self, gold: &str, pred: &str) -> bool {
        let g = lex::clean(gold);
        let p = lex::clean(pred);
        if g.is_empty() || p.is_empty() {
            return false;
        }
        if fold_space(&g) == fold_space(&p) {
            return true;
        }
        let gr = readings(&g);
        let pr = readings(&p);
        if gr.is_empty() || pr.is_empty() {
            // An answer we cannot read completely is only ever its own text: no part of
            // it is guessed at, so nothing it contains makes a comparison looser.
            let (a, b) = (plain_text(&g), plain_text(&p));
            return !a.is_empty() && a == b;
        }
        // A gold that says it is rounded ("≈ 1.41") licenses rounding at its places.
        let mut checker = self.clone();
        if checker.rounding.is_none() && says_approx(&g) {
            checker.rounding = gr.iter().find_map(written_places);
        }
        gr.iter().any(|gn| pr.iter().any(|pn| checker.eq_node(gn, pn, 0)))
    }

    fn eq_node(&self, g: &Node, p: &Node, d: usize) -> bool {
        if d > 16 {
            return false;
        }
        let d = d + 1;
        match (g, p) {
            // Both carry a unit: it must measure the same thing, and the values are
            // compared in base units (`5 km` = `5000 m` ≠ `5 m`). A unit on one side only
            // is dropped: `5` answers "how many km?".
            (Node::Quantity(gv, gu), Node::Quantity(pv, pu)) => {
                if gu.dims != pu.dims {
                    return false;
                }
                let scaled = |v: &Node, f: &num_rational::BigRational| {
                    Node::Mul(vec![v.clone(), Node::Num(f.clone(), None)])
                };
                return self.eq_node(&scaled(gv, &gu.factor), &scaled(pv, &pu.factor), d);
            }
            (Node::Quantity(gv, _), _) => return self.eq_node(gv, p, d),
            (_, Node::Quantity(pv, _)) => return self.eq_node(g, pv, d),
            _ => {}
        }
        if has_pm(g) || has_pm(p) {
            return self.multiset_eq(&items(g), &items(p), d);
        }
        match (g, p) {
            (Node::Text(a), _) => match p {
                Node::Text(b) | Node::Var(b) => canon_text(a) == canon_text(b),
                _ => false,
            },
            (Node::Var(a), Node::Text(b)) => canon_text(a) == canon_text(b),
            (_, Node::Text(_)) => false,
            (Node::Rel(gs, gops), Node::Rel(ps, pops)) => {
                if let (Some(a), Some(b)) = (intervals(g), intervals(p)) {
                    return self.intervals_eq(&a, &b, d);
                }
                if let (Some((gv, gr)), Some((pv, pr))) = (lone_var(g), lone_var(p)) {
                    if gv == pv {
                        return self.eq_node(gr, pr, d);
                    }
                }
                if gops.len() == 1
                    && pops.len() == 1
                    && gops[0] == RelOp::Eq
                    && pops[0] == RelOp::Eq
                {
                    return self.equation_eq(&gs[0], &gs[1], &ps[0], &ps[1]);
                }
                gops == pops
                    && gs.len() == ps.len()
                    && gs.iter().zip(ps).all(|(a, b)| self.eq_node(a, b, d))
            }
            (Node::Rel(..), _) => {
                if let Some((_, rhs)) = lone_var(g) {
                    return self.eq_node(rhs, p, d);
                }
                match (intervals(g), intervals(p)) {
                    (Some(a), Some(b)) => self.intervals_eq(&a, &b, d),
                    _ => false,
                }
            }
            (_, Node::Rel(..)) => {
                if let Some((_, rhs)) = lone_var(p) {
                    return self.eq_node(g, rhs, d);
                }
                match (intervals(g), intervals(p)) {
                    (Some(a), Some(b)) => self.intervals_eq(&a, &b, d),
                    _ => false,
                }
            }
            (
                Node::Interval(..) | Node::Union(_) | Node::Tuple(_),
                Node::Interval(..) | Node::Union(_),
            )
            | (Node::Interval(..) | Node::Union(_), Node::Tuple(_)) => {
                match (intervals(g), intervals(p)) {
                    (Some(a), Some(b)) => self.intervals_eq(&a, &b, d),
                    _ => false,
                }
            }
            // A bare list in the gold's order is accepted for a tuple; the reverse is
            // not, since a list of solutions is no ordered pair.
            (Node::Tuple(a), Node::Tuple(b) | Node::List(b)) => self.seq_eq(a, b, d),
            (Node::Set(_) | Node::List(_), Node::Set(_) | Node::List(_)) => {
                self.multiset_eq(&items(g), &items(p), d)
            }
            (Node::Set(a), _) if !is_structural(p) => a.len() == 1 && self.eq_node(&a[0], p, d),
            (_, Node::Set(b)) if !is_structural(g) => b.len() == 1 && self.eq_node(g, &b[0], d),
            (Node::Matrix(a), Node::Matrix(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(r, s)| self.seq_eq(r, s, d))
            }
            (Node::Matrix(m), Node::Tuple(t)) | (Node::Tuple(t), Node::Matrix(m)) => {
                match vector(m) {
                    Some(v) => self.seq_eq(&v, t, d),
                    None => false,
                }
            }
            _ if is_structural(g) || is_structural(p) => false,
            _ => self.scalar_eq(g, p),
        }
    }

    fn seq_eq(&self, a: &[Node], b: &[Node], d: usize) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| self.eq_node(x, y, d))
    }

    fn multiset_eq(&self, a: &[Node], b: &[Node], d: usize) -> bool {
        if a.len() != b.len() || a.len() > MAX_SET {
            return false;
        }
        let mut used = vec![false; b.len()];
        'outer: for x in a {
            for (j, y) in b.iter().enumerate() {
                if !used[j] && self.eq_node(x, y, d) {
                    used[j] = true;
                    continue 'outer;
                }
            }
            return false;
        }
        true
    }

    fn intervals_eq(&self, a: &[Iv], b: &[Iv], d: usize) -> bool {
        if a.len() != b.len() || a.len() > MAX_SET {
            return false;
        }
        let mut used = vec![false; b.len()];
        'outer: for x in a {
            for (j, y) in b.iter().enumerate() {
                if !used[j]
                    && x.0 == y.0
                    && x.3 == y.3
                    && self.eq_node(&x.1, &y.1, d)
                    && self.eq_node(&x.2, &y.2, d)
                {
                    used[j] = true;
                    continue 'outer;
                }
            }
            return false;
        }
        true
    }

    fn scalar_eq(&self, g: &Node, p: &Node) -> bool {
        match (g, p, self.percent) {
            (Node::Percent(a), Node::Percent(b), _) => self.value_eq(a, b),
            // The gold's sign says the answer is a percentage: a dropped sign is fine.
            (Node::Percent(a), _, PercentPolicy::Lenient) => {
                self.value_eq(&hundredth(a), p) || self.value_eq(a, p)
            }
            // A sign-less gold is a percentage only where the question asks for one.
            (_, Node::Percent(b), PercentPolicy::Lenient) => {
                self.value_eq(g, &hundredth(b)) || (self.asks_percent && self.value_eq(g, b))
            }
            (Node::Percent(a), _, PercentPolicy::Ignore) => self.value_eq(a, p),
            (_, Node::Percent(b), PercentPolicy::Ignore) => self.value_eq(g, b),
            // `Value`: `Percent` evaluates as x/100 below.
            _ => self.value_eq(g, p),
        }
    }

    fn value_eq(&self, g: &Node, p: &Node) -> bool {
        match (inf_sign(g), inf_sign(p)) {
            (Some(a), Some(b)) => return a == b,
            (None, None) => {}
            _ => return false,
        }
        // A gold in another base, a prediction of the same digits without the base.
        if let (Node::Base(digits, _), Node::Num(r, None)) = (g, p) {
            if r.is_integer() && r.numer().to_string() == digits.trim_start_matches('0') {
                return true;
            }
        }
        let ge = exact(g);
        let pe = exact(p);
        if let (Some(a), Some(b)) = (&ge, &pe) {
            if a == b {
                return true;
            }
            // Exact values differ: equal only where the question licenses rounding.
            return match self.rounding {
                Some(k) if a.im.is_zero() && b.im.is_zero() => {
                    (&a.re - &b.re).abs() <= half_unit(k)
                }
                _ => false,
            };
        }
        let mut vars = Vec::new();
        free_vars(g, &mut vars);
        free_vars(p, &mut vars);
        if vars.is_empty() {
            let none = |_: &str| None;
            let (Some(a), Some(b)) = (approx(g, &none), approx(p, &none)) else {
                return false;
            };
            // Floating point is all we have: the relative tolerance covers its error
            // (`\sin\pi` is 0), never rounding, which needs a licence.
            if self.close(&a, &b) {
                return true;
            }
            let Some(k) = self.rounding else {
                return false;
            };
            let half = eval::rat_to_f64(&half_unit(k));
            return self.is_real(&a)
                && self.is_real(&b)
                && (a.v.re - b.v.re).abs() <= half * (1.0 + 1e-12);
        }
        if vars.len() > 8 {
            return false;
        }
        self.agree_at_points(&vars, |env| {
            let a = approx(g, env)?;
            let b = approx(p, env)?;
            Some(Sample::Pair(a, b))
        })
    }

    fn close(&self, a: &Approx, b: &Approx) -> bool {
        if !finite(a.v) || !finite(b.v) {
            return false;
        }
        let scale = a.scale.max(b.scale);
        (a.v - b.v).norm() <= self.rel_tol * scale
    }

    /// `l1 = r1` and `l2 = r2` describe the same relation: `l - r` agree up to a
    /// constant non-zero factor.
    fn equation_eq(&self, l1: &Node, r1: &Node, l2: &Node, r2: &Node) -> bool {
        let f = Node::Add(vec![l1.clone(), Node::Neg(Box::new(r1.clone()))]);
        let h = Node::Add(vec![l2.clone(), Node::Neg(Box::new(r2.clone()))]);
        let mut vars = Vec::new();
        free_vars(&f, &mut vars);
        free_vars(&h, &mut vars);
        if vars.is_empty() || vars.len() > 8 {
            return false;
        }
        let mut ratio: Option<Complex64> = None;
        self.agree_at_points(&vars, |env| {
            let a = approx(&f, env)?;
            let b = approx(&h, env)?;
            if !finite(a.v) || !finite(b.v) {
                return Some(Sample::Skip);
            }
            let a_zero = a.v.norm() <= self.rel_tol * a.scale;
            let b_zero = b.v.norm() <= self.rel_tol * b.scale;
            if a_zero || b_zero {
                return Some(if a_zero && b_zero { Sample::Agree } else { Sample::Disagree });
            }
            let r = b.v / a.v;
            Some(match ratio {
                None => {
                    ratio = Some(r);
                    Sample::Agree
                }
                Some(r0) if (r - r0).norm() <= 1e3 * self.rel_tol * r0.norm() => Sample::Agree,
                Some(_) => Sample::Disagree,
            })
        }) && ratio.is_some()
    }

    /// Samples both sides at fixed points on both signs of zero, near it and away from
    /// it, so `|x|`, `\sqrt{x^2}` and `x/|x|` are told from `x` and `1`. A point where a
    /// side is undefined is skipped, and so is one where the sides differ only because
    /// one of them left the real line (`\ln(x^2)` and `2\ln x` at negative x: a
    /// question of domain, not of value).
    fn agree_at_points(
        &self,
        vars: &[String],
        mut sample: impl FnMut(eval::Env) -> Option<Sample>,
    ) -> bool {
        let mut agreed = 0;
        for k in 0..POINTS {
            let values: Vec<f64> = (0..vars.len()).map(|j| point(k, j)).collect();
            let env = |name: &str| {
                let j = vars.iter().position(|v| v == name)?;
                Some(Complex64::new(values[j], 0.0))
            };
            match sample(&env) {
                None => return false,
                Some(Sample::Skip) => {}
                Some(Sample::Agree) => agreed += 1,
                Some(Sample::Disagree) => return false,
                Some(Sample::Pair(a, b)) => {
                    if !finite(a.v) || !finite(b.v) {
                        continue;
                    }
                    if self.close(&a, &b) {
                        agreed += 1;
                    } else if self.is_real(&a) && self.is_real(&b) {
                        return false;
                    }
                }
            }
        }
        agreed >= MIN_AGREEING_POINTS
    }

    fn is_real(&self, a: &Approx) -> bool {
        a.v.im.abs() <= self.rel_tol * a.scale.max(1.0)
    }
}

/// The value of variable `j` at sample point `k`: signs alternate (and differ between
/// variables), magnitudes cycle through near zero, around one and large.
fn point(k: u64, j: usize) -> f64 {
    let u = unit(k * 131 + j as u64 + 17);
    let magnitude = match (k / 2) % 3 {
        0 => 0.05 + 0.25 * u,
        1 => 0.3 + 2.7 * u,
        _ => 3.0 + 7.0 * u,
    };
    if (k + j as u64).is_multiple_of(2) {
        magnitude
    } else {
        -magnitude
    }
}

/// Half a unit in the last place of a number rounded to `places` decimals.
fn half_unit(places: i32) -> BigRational {
    let p = num_traits::pow(BigInt::from(10), places.unsigned_abs() as usize);
    if places >= 0 {
        BigRational::new(BigInt::from(1), BigInt::from(2) * p)
    } else {
        BigRational::new(p, BigInt::from(2))
    }
}

enum Sample {
    Pair(Approx, Approx),
    Agree,
    Disagree,
    Skip,
}

/// A deterministic value in `[0, 1)`: SplitMix64 of the seed. Fixed points keep
/// verdicts reproducible across runs.
fn unit(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn finite(v: Complex64) -> bool {
    v.re.is_finite() && v.im.is_finite()
}

fn hundredth(a: &Node) -> Node {
    Node::Div(Box::new(a.clone()), Box::new(parse::int(100)))
}

/// Whitespace folded: dropped, except one space between two letters or digits, which
/// it separates (`10 0` is not `100`).
fn fold_space(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            let start = i;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            let before = start.checked_sub(1).map(|k| chars[k]);
            let after = chars.get(i);
            if before.is_some_and(char::is_alphanumeric)
                && after.is_some_and(|c| c.is_alphanumeric())
            {
                out.push(' ');
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Text as compared: case and whitespace folded, one pair of enclosing parentheses
/// dropped (`(C)` is the choice C). Punctuation and digits stay: `1:03` is not `10:3`.
fn canon_text(s: &str) -> String {
    let t = fold_space(&s.to_lowercase());
    match t.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        Some(inner) if !inner.is_empty() && !inner.contains(['(', ')']) => inner.to_string(),
        _ => t,
    }
}

/// An unreadable answer as text: `\text{…}`-like wrappers unwrapped, then folded as in
/// [`canon_text`].
fn plain_text(s: &str) -> String {
    let mut t = s.to_string();
    for cmd in ["\\text", "\\textbf", "\\textit", "\\textrm", "\\mathrm", "\\mbox", "\\mathbf"] {
        t = t.replace(&format!("{cmd}{{"), "{");
    }
    canon_text(&t.replace(['{', '}'], ""))
}

/// Whether an answer says it is approximate (`\approx 1.41`, "about 3.5").
fn says_approx(s: &str) -> bool {
    let lower = s.trim_start().to_ascii_lowercase();
    ["\\approx", "about ", "approximately ", "approx ", "roughly ", "around "]
        .iter()
        .any(|m| lower.starts_with(m))
}

/// Whether `answer` has at least one complete reading.
pub(crate) fn readable(answer: &str) -> bool {
    let cleaned = lex::clean(answer);
    !cleaned.is_empty() && !readings(&cleaned).is_empty()
}

/// The parses of a cleaned answer: one, or two when a top-level `a,bcd` may be a
/// thousands separator or a list (`15,600` ways, but the angles `70,110`). Both are
/// tried because the squashed-string check already treats `70,110` as `70, 110`.
fn readings(s: &str) -> Vec<Node> {
    let grouped = lex::tokenize_with(s, true);
    let plain = lex::tokenize_with(s, false);
    let mut out = Vec::new();
    if let Some(t) = &grouped {
        out.extend(parse::parse(t));
    }
    if let (Some(a), Some(b)) = (&grouped, &plain) {
        // The list reading splits at the commas; `1,000` is no list of 1 and 000.
        let padded = |t: &lex::Token| matches!(&t.tok, lex::Tok::Num(d, _) if d.len() > 1 && d.starts_with('0') && !d.starts_with("0."));
        if a.len() != b.len() && !b.iter().any(padded) {
            out.extend(parse::parse(b));
        }
    }
    out.into_iter().filter_map(resolve_chains).collect()
}

/// A chain of constants joined by `=` and `\approx` states one value: `48/2 = 24` is
/// 24, `\frac13 \approx 0.33` is 1/3. The chain must be true (`2+3=6` is no answer),
/// each `\approx` a rounding at the places written. With variables, `x \approx 1.41`
/// reads as `x = 1.41`. Applies to the answer and to each item of a list.
fn resolve_chains(node: Node) -> Option<Node> {
    match node {
        Node::List(items) => {
            Some(Node::List(items.into_iter().map(resolve_chains).collect::<Option<_>>()?))
        }
        Node::Rel(sides, ops)
            if ops.iter().all(|o| matches!(o, RelOp::Eq | RelOp::Approx))
                && sides.iter().all(is_constant) =>
        {
            for (k, op) in ops.iter().enumerate() {
                let (a, b) = (&sides[k], &sides[k + 1]);
                let ok = match op {
                    RelOp::Approx => {
                        let places = written_places(b).unwrap_or(0);
                        let none = |_: &str| None;
                        match (approx(a, &none), exact(b)) {
                            (Some(x), Some(y)) if y.im.is_zero() && x.v.im == 0.0 => {
                                let half = eval::rat_to_f64(&half_unit(places));
                                (x.v.re - eval::rat_to_f64(&y.re)).abs() <= half * (1.0 + 1e-12)
                            }
                            _ => false,
                        }
                    }
                    _ => match (exact(a), exact(b)) {
                        (Some(x), Some(y)) => x == y,
                        _ => Checker::default().value_eq(a, b),
                    },
                };
                if !ok {
                    return None;
                }
            }
            sides.into_iter().next()
        }
        Node::Rel(sides, ops) => {
            let ops = ops.into_iter().map(|o| if o == RelOp::Approx { RelOp::Eq } else { o });
            Some(Node::Rel(sides, ops.collect()))
        }
        other => Some(other),
    }
}

fn is_structural(n: &Node) -> bool {
    matches!(
        n,
        Node::Tuple(_)
            | Node::Interval(..)
            | Node::Set(_)
            | Node::Matrix(_)
            | Node::Union(_)
            | Node::List(_)
            | Node::Rel(..)
            | Node::Text(_)
    )
}

fn vector(m: &[Vec<Node>]) -> Option<Vec<Node>> {
    if m.len() == 1 {
        return m.first().cloned();
    }
    m.iter().map(|r| if r.len() == 1 { r.first().cloned() } else { None }).collect()
}

fn inf_sign(n: &Node) -> Option<i8> {
    match n {
        Node::Const(Const::Inf) => Some(1),
        Node::Neg(a) => inf_sign(a).map(|s| -s),
        _ => None,
    }
}

/// Places after the point of a number as written (0 for an integer).
fn written_places(n: &Node) -> Option<i32> {
    match n {
        Node::Num(_, k) => Some(k.unwrap_or(0) as i32),
        Node::Neg(a) => written_places(a),
        _ => None,
    }
}

/// `x = rhs` (or `x \in rhs`) with a lone variable on the left: its variable and rhs.
fn lone_var(n: &Node) -> Option<(&str, &Node)> {
    match n {
        Node::Rel(s, ops) if ops.len() == 1 && matches!(ops[0], RelOp::Eq | RelOp::In) => {
            match &s[0] {
                Node::Var(v) => Some((v.as_str(), &s[1])),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_constant(n: &Node) -> bool {
    let mut v = Vec::new();
    free_vars(n, &mut v);
    v.is_empty()
}

/// The intervals a node denotes, if it denotes a subset of the real line.
fn intervals(n: &Node) -> Option<Vec<Iv>> {
    match n {
        Node::Interval(lc, lo, hi, hc) => Some(vec![(*lc, (**lo).clone(), (**hi).clone(), *hc)]),
        Node::Tuple(v) if v.len() == 2 => Some(vec![(false, v[0].clone(), v[1].clone(), false)]),
        Node::Union(parts) | Node::List(parts) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(intervals(p)?);
            }
            Some(out)
        }
        Node::Rel(sides, ops) => {
            let ninf = || Node::Neg(Box::new(Node::Const(Const::Inf)));
            let pinf = || Node::Const(Const::Inf);
            // Orient everything as `<` / `<=`.
            let (sides, ops): (Vec<&Node>, Vec<RelOp>) =
                if ops.iter().all(|o| matches!(o, RelOp::Lt | RelOp::Le)) {
                    (sides.iter().collect(), ops.clone())
                } else if ops.iter().all(|o| matches!(o, RelOp::Gt | RelOp::Ge)) {
                    let flip = |o: &RelOp| if *o == RelOp::Gt { RelOp::Lt } else { RelOp::Le };
                    (sides.iter().rev().collect(), ops.iter().rev().map(flip).collect())
                } else {
                    return None;
                };
            let closed = |o: RelOp| o == RelOp::Le;
            match (sides.as_slice(), ops.as_slice()) {
                ([Node::Var(_), b], [op]) if is_constant(b) => {
                    Some(vec![(false, ninf(), (*b).clone(), closed(*op))])
                }
                ([a, Node::Var(_)], [op]) if is_constant(a) => {
                    Some(vec![(closed(*op), (*a).clone(), pinf(), false)])
                }
                ([a, Node::Var(_), b], [o1, o2]) if is_constant(a) && is_constant(b) => {
                    Some(vec![(closed(*o1), (*a).clone(), (*b).clone(), closed(*o2))])
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn has_pm(n: &Node) -> bool {
    fn go(n: &Node, d: usize) -> bool {
        if d > 64 {
            return false;
        }
        match n {
            Node::Pm(..) => true,
            Node::Add(v) | Node::Mul(v) => v.iter().any(|x| go(x, d + 1)),
            Node::Neg(a) | Node::Abs(a) | Node::Func(_, a) | Node::Percent(a) => go(a, d + 1),
            Node::Div(a, b) | Node::Pow(a, b) | Node::Root(a, b) => go(a, d + 1) || go(b, d + 1),
            _ => false,
        }
    }
    go(n, 0)
}

/// Replaces the first `\pm` in `n` by `+` (or `-`).
fn pick_pm(n: &Node, plus: bool, done: &mut bool) -> Node {
    if *done {
        return n.clone();
    }
    let mut go = |x: &Node| Box::new(pick_pm(x, plus, done));
    match n {
        Node::Pm(a, b) => {
            *done = true;
            let b = if plus { (**b).clone() } else { Node::Neg(b.clone()) };
            Node::Add(vec![(**a).clone(), b])
        }
        Node::Add(v) => Node::Add(v.iter().map(|x| *go(x)).collect()),
        Node::Mul(v) => Node::Mul(v.iter().map(|x| *go(x)).collect()),
        Node::Neg(a) => Node::Neg(go(a)),
        Node::Abs(a) => Node::Abs(go(a)),
        Node::Percent(a) => Node::Percent(go(a)),
        Node::Func(f, a) => Node::Func(*f, go(a)),
        Node::Div(a, b) => {
            let a = go(a);
            Node::Div(a, go(b))
        }
        Node::Pow(a, b) => {
            let a = go(a);
            Node::Pow(a, go(b))
        }
        Node::Root(a, b) => {
            let a = go(a);
            Node::Root(a, go(b))
        }
        other => other.clone(),
    }
}

/// The answers a node lists: list and set members, with each `\pm` split in two.
fn items(n: &Node) -> Vec<Node> {
    let base = match n {
        Node::List(v) | Node::Set(v) => v.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    let mut work = base;
    // At most a few `\pm` per item: each doubles the list.
    for _ in 0..4 {
        let mut next = Vec::new();
        let mut changed = false;
        for x in work {
            if has_pm(&x) {
                changed = true;
                for plus in [true, false] {
                    let mut done = false;
                    next.push(pick_pm(&x, plus, &mut done));
                }
            } else {
                next.push(x);
            }
        }
        work = next;
        if !changed {
            break;
        }
    }
    out.extend(work);
    out
}
