//! Perturbed worked solutions: test material for the tutor's diagnosis metrics.
//!
//! A GSM8K training solution is correct and its calculator annotations
//! (`48/2 = <<48/2=24>>24`) say exactly which numbers each step computes. We put ONE
//! mistake of a chosen [`ErrorKind`] into one annotated step and carry the changed
//! value through every later step that uses it, so the result reads like a student's
//! consistent but wrong work whose first mistake is known.
//!
//! * `ArithmeticSlip`: same expression, a wrong stated result (one digit off by one,
//!   or two adjacent digits swapped).
//! * `MisreadQuantity`: one operand taken from the question becomes a number that is
//!   neither in the question nor an earlier result; the result is recomputed.
//! * `WrongOperation`: one binary operator is replaced (`+`→`-`/`*`, `-`→`+`,
//!   `*`→`+`/`/`, `/`→`*`/`-`); the result is recomputed.
//! * `Conceptual`: an operand that refers to an earlier result is replaced by a
//!   *different* earlier result (the student combined the wrong quantities).
//!
//! The choice is deterministic in `seed` (splitmix64). Steps before the perturbed one
//! must be exactly right, otherwise it would not be the first mistake. Besides the
//! arithmetic (`expr = value`, or the prose numbers of a worded expression), prose from
//! the wrong step on that restates a changed result ("Dad took 27 minutes") is rewritten:
//! every standalone number equal to a result the student has wrong at that point becomes
//! the student's value, unless the question also has that number (then which one the
//! prose means is unknowable and it is kept). Operands the student did not change are
//! never touched. Work in which a step after the wrong one still states the true answer
//! (a number not in the question) is not offered.

use crate::ErrorKind;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive};
use serde::{Deserialize, Serialize};

/// A worked solution with one wrong step and its consequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerturbedWork {
    pub problem: String,
    /// The true final answer (the `####` line).
    pub gold_answer: String,
    /// The student's work, annotations removed; the last step is "So the answer is N.".
    pub steps: Vec<String>,
    /// 0-based index into `steps` of the first wrong step.
    pub wrong_step: usize,
    pub kind: ErrorKind,
    /// The student's final answer; never equivalent to `gold_answer`.
    pub student_answer: String,
}

/// Perturbs one step of a GSM8K `answer` (its calculator annotations are required).
/// `None` when no step admits `kind`, the final answer would not change, or anything
/// cannot be parsed or formatted exactly.
pub fn perturb_gsm8k(
    question: &str,
    answer: &str,
    kind: ErrorKind,
    seed: u64,
) -> Option<PerturbedWork> {
    let (lines, gold) = split_answer(answer)?;
    let gold_value = hypatia_grade::evaluate(&gold)?;
    let calcs = parse_calcs(&lines)?;
    let in_question: Vec<BigRational> = number_spans(question).into_iter().map(|n| n.2).collect();
    let usable = calcs.iter().take_while(|c| c.exact).count();
    let mut rng = SplitMix64(seed);
    let mut order: Vec<usize> = (0..usable).collect();
    rng.shuffle(&mut order);
    for i in order {
        let earlier: Vec<BigRational> = calcs[..i].iter().map(|c| c.stated.clone()).collect();
        for work in variants(&calcs[i], kind, &in_question, &earlier, &mut rng) {
            let Some((works, active, student_value)) =
                propagate(&calcs, i, work, &gold_value, &in_question)
            else {
                continue;
            };
            let Some(student_answer) = format_value(&student_value) else { continue };
            if hypatia_grade::equivalent(&gold, &student_answer) {
                continue;
            }
            let wrong_step = calcs[i].step;
            let restated =
                Restated { from_step: wrong_step, active: &active, in_question: &in_question };
            let Some(mut steps) = render_steps(&lines, &calcs, &works, &restated) else {
                continue;
            };
            // The stale true answer must not survive in the student's work.
            if !in_question.contains(&gold_value)
                && steps[wrong_step + 1..].iter().any(|s| mentions(s, &gold_value))
            {
                continue;
            }
            steps.push(format!("So the answer is {student_answer}."));
            let problem = question.trim().to_string();
            return Some(PerturbedWork {
                problem,
                gold_answer: gold,
                steps,
                wrong_step,
                kind,
                student_answer,
            });
        }
    }
    None
}

/// One calculator annotation `<<expr=stated>>` and the number printed right after it.
struct Calc {
    step: usize,
    /// Byte range in the line, from `<<` to the end of the printed number.
    start: usize,
    end: usize,
    tokens: Vec<Tok>,
    stated: BigRational,
    stated_text: String,
    shown: Option<(String, BigRational)>,
    /// The stated result is the exact value of the expression.
    exact: bool,
}

#[derive(Clone, PartialEq)]
enum Tok {
    Num(String, BigRational),
    Op(char),
    Open,
    Close,
}

/// (original value, student's value) pairs.
type Changes = Vec<(BigRational, BigRational)>;

/// Which changed results the prose of each step restates.
struct Restated<'a> {
    /// Prose of earlier steps is left alone.
    from_step: usize,
    /// `active[j]`: the changed results in effect before calc `j`; `active[calcs.len()]`:
    /// at the end.
    active: &'a [Changes],
    in_question: &'a [BigRational],
}

impl Restated<'_> {
    /// The replacements for the prose of `step`, whose calcs are `calcs[k..]` with their
    /// `works` (possibly none): the changes in effect before the line plus the line's own
    /// changed results ("He earns $50 because 400 / 8 = 50" restates the result before
    /// computing it). Left out: numbers of the question, and values that mean two things
    /// in this line (changed twice differently, or also a result the line gets right).
    fn line(&self, step: usize, k: usize, calcs: &[Calc], works: &[Work]) -> Changes {
        if step < self.from_step {
            return Vec::new();
        }
        let here = calcs.iter().zip(works).take_while(|(c, _)| c.step == step);
        let mut map = self.active[k].clone();
        let mut ambiguous: Vec<BigRational> = self.in_question.to_vec();
        for (calc, work) in here {
            match map.iter().find(|(old, _)| *old == calc.stated) {
                Some((_, new)) if *new != work.value => ambiguous.push(calc.stated.clone()),
                Some(_) => {}
                None if work.value == calc.stated => ambiguous.push(calc.stated.clone()),
                None => map.push((calc.stated.clone(), work.value.clone())),
            }
        }
        map.retain(|(old, _)| !ambiguous.contains(old));
        map
    }
}

/// What the student computes in place of one annotation.
#[derive(Clone)]
struct Work {
    tokens: Vec<Tok>,
    value: BigRational,
    /// Operand replacements (old value, new value) to mirror in the prose.
    subs: Changes,
    op_changed: bool,
}

impl Work {
    fn unchanged(calc: &Calc) -> Work {
        Work {
            tokens: calc.tokens.clone(),
            value: calc.stated.clone(),
            subs: Vec::new(),
            op_changed: false,
        }
    }
}

/// The candidate mutations of one step for `kind`, in seed order.
fn variants(
    calc: &Calc,
    kind: ErrorKind,
    in_question: &[BigRational],
    earlier: &[BigRational],
    rng: &mut SplitMix64,
) -> Vec<Work> {
    let old = &calc.stated;
    let mut out = Vec::new();
    match kind {
        ErrorKind::ArithmeticSlip if calc.tokens.iter().any(|t| matches!(t, Tok::Op(_))) => {
            for value in digit_variants(old).into_iter().filter(|v| plausible(old, v)) {
                out.push(Work { value, ..Work::unchanged(calc) });
            }
        }
        ErrorKind::ArithmeticSlip => {}
        ErrorKind::MisreadQuantity | ErrorKind::Conceptual => {
            for (pos, tok) in calc.tokens.iter().enumerate() {
                let Tok::Num(_, q) = tok else { continue };
                let replacements: Vec<BigRational> = if kind == ErrorKind::MisreadQuantity {
                    if !in_question.contains(q) {
                        continue;
                    }
                    let unseen = |v: &BigRational| !in_question.contains(v) && !earlier.contains(v);
                    digit_variants(q).into_iter().filter(unseen).collect()
                } else {
                    // Only a reference to an earlier result can be swapped for another one.
                    if !earlier.contains(q) || in_question.contains(q) {
                        continue;
                    }
                    earlier.iter().filter(|v| *v != q).cloned().collect()
                };
                for r in replacements {
                    let mut tokens = calc.tokens.clone();
                    let Some(tok) = num_token(&r) else { continue };
                    tokens[pos] = tok;
                    out.extend(recompute(tokens, old, vec![(q.clone(), r)], false));
                }
            }
        }
        ErrorKind::WrongOperation => {
            for (pos, tok) in calc.tokens.iter().enumerate() {
                let Tok::Op(op) = tok else { continue };
                if !is_binary(&calc.tokens, pos) {
                    continue;
                }
                let alternatives: &[char] = match op {
                    '+' => &['-', '*'],
                    '-' => &['+'],
                    '*' => &['+', '/'],
                    _ => &['*', '-'],
                };
                for &alt in alternatives {
                    let mut tokens = calc.tokens.clone();
                    tokens[pos] = Tok::Op(alt);
                    out.extend(recompute(tokens, old, Vec::new(), true));
                }
            }
        }
    }
    rng.shuffle(&mut out);
    out
}

/// The work for a changed expression, if its value differs, is plausible and printable.
fn recompute(tokens: Vec<Tok>, old: &BigRational, subs: Changes, op_changed: bool) -> Option<Work> {
    let value = hypatia_grade::evaluate(&render_expr(&tokens))?;
    format_value(&value)?;
    (value != *old && plausible(old, &value)).then_some(Work { tokens, value, subs, op_changed })
}

/// A count or price that was not negative should not become negative: a student would notice.
fn plausible(old: &BigRational, new: &BigRational) -> bool {
    !new.is_negative() || old.is_negative()
}

/// Applies the mutation of step `i`, carries changed results through later steps, and
/// returns the student's work, the changed results in effect before each calc and at the
/// end (see [`Restated::active`]), and the value they end up with in place of `gold`.
/// `None` when a later step uses a changed result that is also a number of the question:
/// which of the two it means is unknowable, so the propagation could be wrong.
fn propagate(
    calcs: &[Calc],
    i: usize,
    work: Work,
    gold: &BigRational,
    in_question: &[BigRational],
) -> Option<(Vec<Work>, Vec<Changes>, BigRational)> {
    // Original result -> the student's value, for every result the student now has wrong.
    let mut changed = vec![(calcs[i].stated.clone(), work.value.clone())];
    let mut works: Vec<Work> = calcs.iter().map(Work::unchanged).collect();
    works[i] = work;
    let mut active = vec![Vec::new(); i + 1];
    for (j, calc) in calcs.iter().enumerate().skip(i + 1) {
        active.push(changed.clone());
        let w = &mut works[j];
        for tok in w.tokens.iter_mut() {
            let Tok::Num(_, v) = tok else { continue };
            if let Some((old, new)) = changed.iter().find(|(old, _)| old == v) {
                if in_question.contains(old) {
                    return None;
                }
                w.subs.push((old.clone(), new.clone()));
                *tok = num_token(new)?;
            }
        }
        // A result computed again (correctly) is what later steps refer to from now on.
        changed.retain(|(old, _)| *old != calc.stated);
        if !w.subs.is_empty() {
            w.value = hypatia_grade::evaluate(&render_expr(&w.tokens))?;
            format_value(&w.value)?;
            if w.value != calc.stated {
                changed.push((calc.stated.clone(), w.value.clone()));
            }
        }
    }
    active.push(changed.clone());
    let (_, student_value) = changed.into_iter().find(|(old, _)| old == gold)?;
    Some((works, active, student_value))
}

fn render_steps(
    lines: &[String],
    calcs: &[Calc],
    works: &[Work],
    restated: &Restated,
) -> Option<Vec<String>> {
    let mut steps = Vec::with_capacity(lines.len());
    // Calcs are in line order; `k` is the next one.
    let mut k = 0;
    for (s, line) in lines.iter().enumerate() {
        let restate = restated.line(s, k, &calcs[k..], &works[k..]);
        let mut out = String::new();
        let mut cursor = 0;
        while let Some((calc, work)) = calcs.get(k).zip(works.get(k)).filter(|(c, _)| c.step == s) {
            // An operand the student kept keeps its number, even if it equals a changed result.
            let keep: Vec<BigRational> = calc
                .tokens
                .iter()
                .filter_map(|t| match t {
                    Tok::Num(_, v) if !work.subs.iter().any(|(old, _)| old == v) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            let restate: Changes =
                restate.iter().filter(|(old, _)| !keep.contains(old)).cloned().collect();
            out.push_str(&render_calc(line.get(cursor..calc.start)?, calc, work, &restate)?);
            cursor = calc.end;
            k += 1;
        }
        out.push_str(&substitute(line.get(cursor..)?, &[], &restate)?);
        steps.push(out);
    }
    Some(steps)
}

/// The prose before an annotation plus the student's `expr = value` for it; `restate`
/// rewrites standalone numbers of the prose (not of the expression or the value).
fn render_calc(seg: &str, calc: &Calc, work: &Work, restate: &Changes) -> Option<String> {
    let value_changed = work.value != calc.stated;
    let value_text = match &calc.shown {
        // The prose prints another number than the calculator: it cannot be kept consistent.
        Some((_, shown)) if value_changed && *shown != calc.stated => return None,
        Some((text, _)) if !value_changed => text.clone(),
        None if !value_changed => calc.stated_text.clone(),
        _ => format_value(&work.value)?,
    };
    let expr = render_expr(&work.tokens);
    let before_currency = seg.trim_end().trim_end_matches(['$', '€', '£']).trim_end();
    let tail = seg[before_currency.len()..].trim_start();
    let expr_changed = work.op_changed || !work.subs.is_empty();
    let prose = |text: &str| substitute(text, &[], restate);
    let prefix = match before_currency.strip_suffix('=') {
        None => {
            let sep = if before_currency.is_empty() { "" } else { " " };
            format!("{}{sep}{expr} = {tail}", prose(before_currency)?)
        }
        // The kept operands are not in `restate`, so the shown expression stays as it was.
        Some(_) if !expr_changed => prose(seg)?,
        Some(shown_expr) => {
            match (clean_span(shown_expr), substitute(shown_expr, &work.subs, restate)) {
                (Some((a, b)), _) => format!("{}{expr}{}", prose(&shown_expr[..a])?, &seg[b..]),
                (None, Some(text)) if !work.op_changed => {
                    format!("{text}{}", &seg[shown_expr.len()..])
                }
                _ => format!("{} {expr} = {tail}", prose(before_currency)?),
            }
        }
    };
    Some(prefix + &value_text)
}

/// The byte range of the arithmetic written just before an `=` (`$40 x 5/100`), if the
/// prose there is a plain expression with an operator rather than words.
fn clean_span(text: &str) -> Option<(usize, usize)> {
    let allowed = |c: char| c.is_ascii_digit() || " .,$€£+-*/xX×÷()–−%".contains(c);
    let start = text.char_indices().rev().take_while(|&(_, c)| allowed(c)).last()?.0;
    let lead = text[start..].find(|c: char| c.is_ascii_digit() || "($€£.".contains(c))?;
    let (a, b) = (start + lead, start + text[start..].trim_end().len());
    let has_op = text[a..b].chars().skip(1).any(|c| "+-*/xX×÷–−".contains(c));
    has_op.then_some((a, b))
}

/// `text` with every number equal to a replaced operand rewritten, and every standalone
/// number equal to a `restate` original rewritten (one pass, so a new value is never
/// rewritten again); `None` if an operand is missing or a value cannot be printed.
fn substitute(
    text: &str,
    subs: &[(BigRational, BigRational)],
    restate: &Changes,
) -> Option<String> {
    let mut out = String::new();
    let mut cursor = 0;
    let mut found = vec![false; subs.len()];
    for (a, b, v) in number_spans(text) {
        let new = if let Some(k) = subs.iter().position(|(old, _)| *old == v) {
            found[k] = true;
            &subs[k].1
        } else if let Some((_, new)) =
            restate.iter().find(|(old, _)| *old == v).filter(|_| standalone(text, a, b))
        {
            new
        } else {
            continue;
        };
        out.push_str(&text[cursor..a]);
        out.push_str(&format_value(new)?);
        cursor = b;
    }
    out.push_str(&text[cursor..]);
    found.iter().all(|&f| f).then_some(out)
}

/// Whether the number at `a..b` of `text` stands alone: not glued to a letter, digit or
/// underscore (`B27`, `27th`), nor part of a longer number (`1,27`).
fn standalone(text: &str, a: usize, b: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut before = text[..a].chars().rev();
    let mut after = text[b..].chars();
    let glued_before = match before.next() {
        Some(',' | '.') => before.next().is_some_and(|c| c.is_ascii_digit()),
        Some(c) => word(c),
        None => false,
    };
    let glued_after = match after.next() {
        Some(',' | '.') => after.next().is_some_and(|c| c.is_ascii_digit()),
        Some(c) => word(c),
        None => false,
    };
    !glued_before && !glued_after
}

/// Whether `text` has a standalone number equal to `value`.
fn mentions(text: &str, value: &BigRational) -> bool {
    number_spans(text).into_iter().any(|(a, b, v)| v == *value && standalone(text, a, b))
}

/// The step lines and the gold answer of a GSM8K answer.
fn split_answer(answer: &str) -> Option<(Vec<String>, String)> {
    let mut lines = Vec::new();
    for line in answer.lines().map(str::trim) {
        if let Some(gold) = line.strip_prefix("####") {
            let gold = gold.trim();
            return (!gold.is_empty() && !lines.is_empty()).then(|| (lines, gold.to_string()));
        }
        if !line.is_empty() {
            lines.push(line.to_string());
        }
    }
    None
}

fn parse_calcs(lines: &[String]) -> Option<Vec<Calc>> {
    let mut calcs = Vec::new();
    for (step, line) in lines.iter().enumerate() {
        let mut from = 0;
        while let Some(offset) = line[from..].find("<<") {
            let start = from + offset;
            let close = start + 2 + line[start + 2..].find(">>")?;
            let (expr, stated_text) = line[start + 2..close].rsplit_once('=')?;
            let tokens = tokenize(expr)?;
            let stated = hypatia_grade::evaluate(stated_text)?;
            let exact = hypatia_grade::evaluate(&render_expr(&tokens)).as_ref() == Some(&stated);
            let after = close + 2;
            let shown = number_spans(&line[after..]).into_iter().next().filter(|n| n.0 == 0);
            let end = after + shown.as_ref().map_or(0, |n| n.1);
            let shown = shown.map(|(_, b, v)| (line[after..after + b].to_string(), v));
            let stated_text = stated_text.trim().to_string();
            calcs.push(Calc { step, start, end, tokens, stated, stated_text, shown, exact });
            from = end;
        }
    }
    (!calcs.is_empty()).then_some(calcs)
}

fn tokenize(expr: &str) -> Option<Vec<Tok>> {
    let bytes = expr.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' => {}
            b'+' | b'-' | b'*' | b'/' => tokens.push(Tok::Op(bytes[i] as char)),
            b'(' => tokens.push(Tok::Open),
            b')' => tokens.push(Tok::Close),
            b'0'..=b'9' | b'.' => {
                let start = i;
                while bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit() || *b == b'.') {
                    i += 1;
                }
                let text = &expr[start..=i];
                tokens.push(Tok::Num(text.to_string(), parse_decimal(text)?));
            }
            _ => return None,
        }
        i += 1;
    }
    (!tokens.is_empty()).then_some(tokens)
}

fn is_binary(tokens: &[Tok], pos: usize) -> bool {
    pos > 0 && matches!(tokens[pos - 1], Tok::Num(..) | Tok::Close)
}

fn render_expr(tokens: &[Tok]) -> String {
    let mut out = String::new();
    for (pos, tok) in tokens.iter().enumerate() {
        match tok {
            Tok::Num(text, _) => out.push_str(text),
            Tok::Op(op) if is_binary(tokens, pos) => out.push_str(&format!(" {op} ")),
            Tok::Op(op) => out.push(*op),
            Tok::Open => out.push('('),
            Tok::Close => out.push(')'),
        }
    }
    out
}

/// A number token for a value; negatives are parenthesized so `10 - -5` never appears.
fn num_token(value: &BigRational) -> Option<Tok> {
    let text = format_value(value)?;
    let text = if value.is_negative() { format!("({text})") } else { text };
    Some(Tok::Num(text, value.clone()))
}

/// Numbers in prose (`1,200`, `12.50`, `.5`) as (start, end, value).
fn number_spans(text: &str) -> Vec<(usize, usize, BigRational)> {
    let bytes = text.as_bytes();
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !(digit(i) || (bytes[i] == b'.' && digit(i + 1))) {
            i += 1;
            continue;
        }
        let start = i;
        while digit(i) {
            i += 1;
        }
        while bytes.get(i) == Some(&b',') && (1..=3).all(|k| digit(i + k)) && !digit(i + 4) {
            i += 4;
        }
        if bytes.get(i) == Some(&b'.') && digit(i + 1) {
            i += 1;
            while digit(i) {
                i += 1;
            }
        }
        if let Some(v) = parse_decimal(&text[start..i].replace(',', "")) {
            out.push((start, i, v));
        }
    }
    out
}

fn parse_decimal(text: &str) -> Option<BigRational> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = format!("{int}{frac}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 30 {
        return None;
    }
    let scale = BigInt::from(10u32).pow(frac.len() as u32);
    Some(BigRational::new(BigInt::parse_bytes(digits.as_bytes(), 10)?, scale))
}

/// An integer, or a terminating decimal with at most 6 places; `None` otherwise.
fn format_value(value: &BigRational) -> Option<String> {
    if value.is_integer() {
        return Some(value.to_integer().to_string());
    }
    let scale = BigInt::from(1_000_000u32);
    let scaled = value * BigRational::from_integer(scale.clone());
    if !scaled.is_integer() {
        return None;
    }
    let n = scaled.to_integer();
    let sign = if n.is_negative() { "-" } else { "" };
    let n = n.abs();
    let frac = format!("{:06}", (&n % &scale).to_u32()?);
    Some(format!("{sign}{}.{}", &n / &scale, frac.trim_end_matches('0')))
}

/// Values one slip away from `value`: one digit off by one, or two adjacent digits swapped.
fn digit_variants(value: &BigRational) -> Vec<BigRational> {
    let Some(text) = format_value(value) else { return Vec::new() };
    let (sign, body) = text.strip_prefix('-').map_or(("", text.as_str()), |b| ("-", b));
    let chars: Vec<char> = body.chars().collect();
    let mut candidates: Vec<Vec<char>> = Vec::new();
    for (p, c) in chars.iter().enumerate() {
        let Some(d) = c.to_digit(10) else { continue };
        for nd in [d + 1, d.wrapping_sub(1)].into_iter().filter(|nd| *nd <= 9) {
            let mut v = chars.clone();
            v[p] = char::from_digit(nd, 10).unwrap_or(*c);
            candidates.push(v);
        }
        if chars.get(p + 1).is_some_and(|n| n.is_ascii_digit() && n != c) {
            let mut v = chars.clone();
            v.swap(p, p + 1);
            candidates.push(v);
        }
    }
    let mut out: Vec<BigRational> = Vec::new();
    for v in candidates {
        // No leading zeros: "07" is not a slip anyone writes.
        if v.len() > 1 && v[0] == '0' && v[1] != '.' {
            continue;
        }
        let s: String = v.into_iter().collect();
        if let Some(n) = parse_decimal(&s).map(|n| if sign == "-" { -n } else { n }) {
            if n != *value && !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// splitmix64: a tiny deterministic generator, so test material is reproducible.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATALIA_Q: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?";
    const NATALIA_A: &str = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72";
    const BETTY_Q: &str = "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs. Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her parents. How much more money does Betty need to buy the wallet?";
    const BETTY_A: &str = "In the beginning, Betty has only 100 / 2 = $<<100/2=50>>50.\nBetty's grandparents gave her 15 * 2 = $<<15*2=30>>30.\nThis means, Betty needs 100 - 50 - 30 - 15 = $<<100-50-30-15=5>>5 more.\n#### 5";
    const WENG_Q: &str = "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?";
    const WENG_A: &str = "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10";

    const ALL: [ErrorKind; 4] = [
        ErrorKind::ArithmeticSlip,
        ErrorKind::MisreadQuantity,
        ErrorKind::WrongOperation,
        ErrorKind::Conceptual,
    ];

    /// The first `seed` whose perturbation satisfies `pick`.
    fn find(
        q: &str,
        a: &str,
        kind: ErrorKind,
        pick: impl Fn(&PerturbedWork) -> bool,
    ) -> PerturbedWork {
        (0..200).filter_map(|s| perturb_gsm8k(q, a, kind, s)).find(pick).expect("some seed works")
    }

    #[test]
    fn invariants_hold_for_every_kind_and_seed() {
        for (q, a, gold) in
            [(NATALIA_Q, NATALIA_A, "72"), (BETTY_Q, BETTY_A, "5"), (WENG_Q, WENG_A, "10")]
        {
            for kind in ALL {
                for seed in 0..30 {
                    let Some(w) = perturb_gsm8k(q, a, kind, seed) else { continue };
                    assert_eq!((w.gold_answer.as_str(), w.kind), (gold, kind));
                    assert!(!hypatia_grade::equivalent(gold, &w.student_answer), "{w:?}");
                    assert_eq!(
                        w.steps.last().unwrap(),
                        &format!("So the answer is {}.", w.student_answer)
                    );
                    assert!(w.wrong_step + 1 < w.steps.len());
                    assert!(w.steps.iter().all(|s| !s.contains("<<") && !s.contains(">>")));
                    assert_eq!(perturb_gsm8k(q, a, kind, seed), Some(w), "deterministic");
                }
            }
        }
    }

    #[test]
    fn arithmetic_slip_keeps_the_expression_and_propagates() {
        let w = find(NATALIA_Q, NATALIA_A, ErrorKind::ArithmeticSlip, |w| w.wrong_step == 0);
        let slip = w.steps[0]
            .strip_prefix("Natalia sold 48/2 = ")
            .unwrap()
            .strip_suffix(" clips in May.")
            .unwrap();
        assert_ne!(slip, "24");
        let total = 48 + slip.parse::<i64>().unwrap();
        assert_eq!(
            w.steps[1],
            format!("Natalia sold 48 + {slip} = {total} clips altogether in April and May.")
        );
        assert_eq!(w.student_answer, total.to_string());
    }

    #[test]
    fn misread_uses_a_number_not_in_the_question() {
        let w = find(NATALIA_Q, NATALIA_A, ErrorKind::MisreadQuantity, |w| w.wrong_step == 0);
        let misread = w.steps[0].strip_prefix("Natalia sold ").unwrap().split(' ').next().unwrap();
        let misread: i64 = misread.parse().unwrap();
        assert!(misread != 48 && !NATALIA_Q.contains(&misread.to_string()));
        let half = format_value(&BigRational::new(misread.into(), 2.into())).unwrap();
        assert_eq!(w.steps[0], format!("Natalia sold {misread} / 2 = {half} clips in May."));
        assert!(w.steps[1].starts_with(&format!("Natalia sold 48 + {half} = ")));
        // The slip can also sit in the last step, where nothing propagates.
        let last = find(NATALIA_Q, NATALIA_A, ErrorKind::MisreadQuantity, |w| w.wrong_step == 1);
        assert_eq!(last.steps[0], "Natalia sold 48/2 = 24 clips in May.");
    }

    #[test]
    fn wrong_operation_recomputes_and_propagates_decimals() {
        let w = find(WENG_Q, WENG_A, ErrorKind::WrongOperation, |w| w.steps[0].contains("12 * 60"));
        assert_eq!(w.wrong_step, 0);
        assert_eq!(w.steps[0], "Weng earns 12 * 60 = $720 per minute.");
        assert_eq!(w.steps[1], "Working 50 minutes, she earned 720 * 50 = $36000.");
        assert_eq!(w.student_answer, "36000");
        let w = find(WENG_Q, WENG_A, ErrorKind::WrongOperation, |w| w.wrong_step == 1);
        assert!(
            w.steps[1] == "Working 50 minutes, she earned 0.2 + 50 = $50.2."
                || w.student_answer == "0.004"
        );
    }

    #[test]
    fn conceptual_swaps_in_another_earlier_result() {
        let w = find(BETTY_Q, BETTY_A, ErrorKind::Conceptual, |_| true);
        assert_eq!(w.wrong_step, 2);
        // 50 -> 30 gives 25; 30 -> 50 would go negative and is not offered.
        assert_eq!(w.steps[2], "This means, Betty needs 100 - 30 - 30 - 15 = $25 more.");
        assert_eq!(w.steps[0], "In the beginning, Betty has only 100 / 2 = $50.");
        assert_eq!(w.student_answer, "25");
    }

    #[test]
    fn prose_without_expression_gets_one_and_words_are_substituted() {
        let q = "Carl has 3 red and 16 blue hats. He buys 2 more red ones.";
        let a = "He has <<3+2=5>>5 red hats.\nThere are 5 red hats + 16 blue hats = <<5+16=21>>21 hats.\n#### 21";
        let w = find(q, a, ErrorKind::ArithmeticSlip, |w| {
            w.wrong_step == 0 && w.student_answer == "22"
        });
        assert_eq!(w.steps[0], "He has 3 + 2 = 6 red hats.");
        assert_eq!(w.steps[1], "There are 6 red hats + 16 blue hats = 22 hats.");
    }

    #[test]
    fn prose_restating_a_changed_result_is_rewritten() {
        let q = "It took Dad 5 more than twice as long to vacuum upstairs then to vacuum downstairs. He vacuumed for a total of 38 minutes. How many minutes did he vacuum upstairs?";
        let a = "Let D = time in minutes to vacuum downstairs\nUpstairs = 2D + 5 minutes\n3D + 5 = 38\n3D = 33\nD = <<11=11>>11 minutes\nUpstairs = (2 * 11) + 5 = <<(2*11)+5=27>>27 minutes\nDad took 27 minutes to vacuum upstairs.\n#### 27";
        let w = find(q, a, ErrorKind::ArithmeticSlip, |w| w.student_answer == "72");
        assert_eq!(w.wrong_step, 5);
        assert_eq!(w.steps[5], "Upstairs = (2 * 11) + 5 = 72 minutes");
        assert_eq!(w.steps[6], "Dad took 72 minutes to vacuum upstairs.");
        assert_eq!(w.steps[7], "So the answer is 72.");
        for kind in ALL {
            for seed in 0..30 {
                let Some(w) = perturb_gsm8k(q, a, kind, seed) else { continue };
                assert!(
                    w.steps.iter().all(|s| !mentions(s, &BigRational::from_integer(27.into()))),
                    "{w:?}"
                );
            }
        }
        // Only standalone numbers are restated.
        let restate =
            vec![(BigRational::from_integer(27.into()), BigRational::from_integer(72.into()))];
        assert_eq!(
            substitute("27, 270, B27, 27th, 1,27 and $27.", &[], &restate).unwrap(),
            "72, 270, B27, 27th, 1,27 and $72."
        );
    }

    #[test]
    fn prose_of_the_changed_line_and_kept_operands() {
        // "… $50 … because 400 / 8 = 50": the line restates its own result before computing it.
        let q = "He must save $400 in 8 months. Each task pays $10.";
        let a = "He earns $50 a month because 400 / 8 = <<400/8=50>>50\nHe does 5 tasks a month because 50 / 10 = <<50/10=5>>5\n#### 5";
        let w =
            find(q, a, ErrorKind::ArithmeticSlip, |w| w.wrong_step == 0 && w.student_answer == "6");
        assert_eq!(w.steps[0], "He earns $60 a month because 400 / 8 = 60");
        assert_eq!(w.steps[1], "He does 6 tasks a month because 60 / 10 = 6");
        // An operand the student did not change keeps its number even if it equals the old result.
        let q = "He buys 9 packs of 3 pens.";
        let a =
            "He has <<9*3=27>>27 pens.\nHe keeps 27 * 1 = <<27*1=27>>27 pens, so 27 pens.\n#### 27";
        let w = find(q, a, ErrorKind::ArithmeticSlip, |w| {
            w.wrong_step == 1 && w.student_answer == "28"
        });
        assert_eq!(w.steps[1], "He keeps 27 * 1 = 28 pens, so 28 pens.");
        let w = find(q, a, ErrorKind::ArithmeticSlip, |w| {
            w.wrong_step == 0 && w.student_answer == "28"
        });
        assert_eq!(w.steps[1], "He keeps 28 * 1 = 28 pens, so 28 pens.");
    }

    #[test]
    fn stale_true_answer_or_question_number_in_prose() {
        // 5 is also a number of the question: prose repeating it is ambiguous and is kept.
        let q = "Ann has 2 apples and gets 3 more. Bob has 5 pears.";
        let a = "Ann has 2+3 = <<2+3=5>>5 apples.\nBob has 5 pears, Ann has 5 apples.\n#### 5";
        let w = perturb_gsm8k(q, a, ErrorKind::ArithmeticSlip, 0).unwrap();
        assert_eq!(w.steps[1], "Bob has 5 pears, Ann has 5 apples.");
        // A step restating the true answer before the answer is changed cannot be kept
        // consistent, so only the last step is perturbed.
        let q = "Ann has 2 apples and gets 3 more, then 4 more.";
        let a = "Ann has 2+3 = <<2+3=5>>5 apples.\nIn the end she has 9 apples.\nShe has 5+4 = <<5+4=9>>9.\n#### 9";
        for seed in 0..20 {
            let w = perturb_gsm8k(q, a, ErrorKind::ArithmeticSlip, seed).unwrap();
            assert_eq!(w.wrong_step, 2, "{w:?}");
        }
    }

    #[test]
    fn a_changed_result_that_is_also_in_the_question_is_not_guessed_at() {
        // In `12+36+12` one 12 is Monday's (the question) and one Wednesday's (36/3).
        let q = "They sold 12 on Monday, 3 times as many on Tuesday, a third of that on Wednesday.";
        let a = "12*3=<<12*3=36>>36\n36/3=<<36/3=12>>12\n12+36+12=<<12+36+12=60>>60\n#### 60";
        for seed in 0..20 {
            let w = perturb_gsm8k(q, a, ErrorKind::ArithmeticSlip, seed).unwrap();
            assert_eq!(w.wrong_step, 2);
        }
    }

    #[test]
    fn unusable_inputs_give_none_without_panicking() {
        let unchanged_answer = "It is <<2*3=6>>6.\nThe answer is <<4+4=8>>8.\n#### 8";
        for a in [
            "",
            "no annotations\n#### 5",
            "x <<2*3=6>>6",
            "<<2*3=6\n#### 6",
            "<<a+b=c>>c\n#### 6",
            "é <<1/0=1>>1\n#### 1",
        ] {
            for kind in ALL {
                assert_eq!(perturb_gsm8k("q", a, kind, 1), None, "{a}");
            }
        }
        // The only perturbable step that feeds the answer is the last; the first does not.
        for seed in 0..20 {
            let w =
                perturb_gsm8k("q 4", unchanged_answer, ErrorKind::ArithmeticSlip, seed).unwrap();
            assert_eq!(w.wrong_step, 1);
        }
    }
}
