//! Normalisation of answer strings and their tokenisation.
//!
//! Cleaning removes what never carries meaning in a final answer (math delimiters,
//! sizing commands, spacing, degree marks, currency signs); everything that can change
//! the value (commas, brackets, percent) is left to the tokeniser and the parser, which
//! can see the context.

use crate::units;

/// Answers longer than this are compared as strings only: no real final answer is this
/// long, and it bounds the work the parser can be made to do.
pub(crate) const MAX_PARSE_LEN: usize = 2000;

/// Strips presentation-only LaTeX and unifies spellings.
pub(crate) fn clean(s: &str) -> String {
    let mut s = s.trim().to_string();
    // Delimiters of a math span.
    for (open, close) in [("\\(", "\\)"), ("\\[", "\\]")] {
        if s.starts_with(open) && s.ends_with(close) && s.len() >= open.len() + close.len() {
            s = s[open.len()..s.len() - close.len()].to_string();
        }
    }
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '$' => {}
            '\u{2212}' | '\u{2013}' => out.push('-'),
            '\u{00d7}' => out.push_str("\\times "),
            '\u{00f7}' => out.push_str("\\div "),
            '\u{00b7}' | '\u{22c5}' => out.push_str("\\cdot "),
            '\u{03c0}' => out.push_str("\\pi "),
            '\u{221e}' => out.push_str("\\infty "),
            '\u{221a}' => out.push_str("\\sqrt"),
            '\u{2264}' => out.push_str("\\le "),
            '\u{2265}' => out.push_str("\\ge "),
            '\u{2260}' => out.push_str("\\ne "),
            '\u{00b1}' => out.push_str("\\pm "),
            '\u{222a}' => out.push_str("\\cup "),
            '\u{00b0}' => {}
            // Currency signs are decoration like `\$`; a cent sign is a unit.
            '\u{20ac}' | '\u{00a3}' | '\u{00a5}' | '\u{20b9}' => {}
            '\u{00a2}' => out.push_str(" cents"),
            // Superscripts and vulgar fractions as students type them.
            '\u{00b2}' => out.push_str("^2"),
            '\u{00b3}' => out.push_str("^3"),
            '\u{00b9}' => out.push_str("^1"),
            '\u{00bd}' => out.push_str(" 1/2"),
            '\u{00bc}' => out.push_str(" 1/4"),
            '\u{00be}' => out.push_str(" 3/4"),
            '\u{2153}' => out.push_str(" 1/3"),
            '\u{2154}' => out.push_str(" 2/3"),
            '\u{2044}' | '\u{2215}' => out.push('/'),
            '\u{2248}' => out.push_str("\\approx "),
            '\u{2009}' | '\u{202f}' | '\u{00a0}' | '\u{2005}' | '\u{2006}' | '\u{200b}' => {}
            '\\' if i + 1 < chars.len() && !chars[i + 1].is_ascii_alphabetic() => {
                let n = chars[i + 1];
                match n {
                    // Thin/negative spaces sit inside numbers ("6,\!000"); drop them.
                    '!' | ',' => {}
                    ';' | ':' | ' ' => out.push(' '),
                    '$' => {}
                    '%' => out.push('%'),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                i += 2;
                continue;
            }
            '\\' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j].is_ascii_alphabetic() {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                match name.as_str() {
                    "left" | "right" | "bigl" | "bigr" | "Bigl" | "Bigr" | "big" | "Big"
                    | "biggl" | "biggr" | "bigg" | "Bigg" => {
                        // `\left.` is an invisible delimiter.
                        if j < chars.len() && chars[j] == '.' {
                            j += 1;
                        }
                    }
                    "displaystyle" | "textstyle" | "scriptstyle" | "limits" | "nolimits"
                    | "circ" | "degree" | "degrees" | "mathdollar" | "textdollar" | "euro"
                    | "texteuro" | "pounds" | "textsterling" | "yen" | "textyen" => {}
                    "quad" | "qquad" | "enspace" | "thinspace" => out.push(' '),
                    "dfrac" | "tfrac" | "cfrac" => out.push_str("\\frac"),
                    "dbinom" | "tbinom" => out.push_str("\\binom"),
                    "leq" | "leqslant" | "le" => out.push_str("\\le"),
                    "geq" | "geqslant" | "ge" => out.push_str("\\ge"),
                    "neq" | "ne" => out.push_str("\\ne"),
                    "lt" => out.push('<'),
                    "gt" => out.push('>'),
                    "lbrace" => out.push_str("\\{"),
                    "rbrace" => out.push_str("\\}"),
                    "lvert" | "rvert" | "vert" | "mid" => out.push('|'),
                    "colon" => out.push(':'),
                    "dots" | "ldots" | "cdots" => out.push_str("\\dots"),
                    _ => {
                        out.push('\\');
                        out.push_str(&name);
                    }
                }
                i = j;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    let mut s = out;
    // Degree marks: `^\circ` lost its `\circ` above and leaves `^{}` or a bare `^`.
    for pat in ["^{ }", "^{}", "^ {}"] {
        s = s.replace(pat, "");
    }
    if s.ends_with('^') {
        s.pop();
    }
    let s = s.replace("^ ", " ");
    let s = s.trim();
    // One closing full stop or semicolon is punctuation; `0.999...` is not `0.999`.
    let s = if s.ends_with("..") { s } else { s.strip_suffix(['.', ';']).unwrap_or(s).trim_end() };
    s.to_string()
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A decimal literal: digits with at most one point, already stripped of thousands
    /// separators, plus a power-of-ten exponent from scientific notation.
    Num(String, i64),
    /// A single-letter (or Greek, or subscripted) variable name.
    Ident(String),
    /// A run of letters that is a word: a unit, or part of a text answer.
    Word(String),
    /// `\text{…}` and friends whose content is prose.
    Text(String),
    /// A LaTeX command other than those folded into other tokens.
    Cmd(String),
    /// `\begin{env}` / `\end{env}`.
    Begin(String),
    End(String),
    Sym(char),
    SetOpen,
    SetClose,
    RowSep,
}

/// A token and whether whitespace came right before it (a space separates a unit
/// word from the number, while `2xy` is a product).
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub spaced: bool,
}

const FUNCTIONS: [&str; 22] = [
    "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "ln", "log", "exp", "sqrt", "frac", "binom", "pi", "infty", "inf", "max",
];

/// Whether a word that follows a number without a space (`5cm`) is a word (a unit)
/// rather than a product of one-letter variables.
pub(crate) fn is_unit_word(w: &str) -> bool {
    units::is_unit_word(w) || w.eq_ignore_ascii_case("percent")
}

/// Words after which the rest of an answer is an explanation, not part of it
/// (`5 because 2 + 3 = 5`).
const CONNECTIVES: [&str; 2] = ["because", "since"];

/// Tokenises a cleaned answer. Returns `None` on anything we do not understand; the
/// caller then falls back to comparing strings.
#[cfg(test)]
pub(crate) fn tokenize(s: &str) -> Option<Vec<Token>> {
    tokenize_with(s, true)
}

/// Tokenises with (`group`) or without reading `1,234` as one number. Both readings
/// are needed: MATH writes the list of solutions 70 and 110 as `70,110`.
pub(crate) fn tokenize_with(s: &str, group: bool) -> Option<Vec<Token>> {
    tokenize_nested(s, group, 0)
}

/// Text commands nested deeper than this (`\text{\text{…}}`) are refused: each level is
/// a call, and the input is untrusted.
const MAX_TEXT_NESTING: usize = 4;

fn tokenize_nested(s: &str, group: bool, nesting: usize) -> Option<Vec<Token>> {
    if s.len() > MAX_PARSE_LEN || nesting > MAX_TEXT_NESTING {
        return None;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut toks: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut spaced = false;
    // Depth of open brackets: thousands separators are never read inside them.
    let mut depth: i32 = 0;
    // Positions of digits that TeX reads alone: the bare arguments of `\frac12`.
    let mut single_digit: Vec<usize> = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            spaced = true;
            i += 1;
            continue;
        }
        let push = |toks: &mut Vec<Token>, tok: Tok, spaced: &mut bool| {
            toks.push(Token { tok, spaced: *spaced });
            *spaced = false;
        };
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let (tok, next) = if single_digit.contains(&i) {
                (Tok::Num(c.to_string(), 0), i + 1)
            } else {
                lex_number(&chars, i, group && depth == 0)?
            };
            push(&mut toks, tok, &mut spaced);
            i = next;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            if depth == 0
                && !toks.is_empty()
                && CONNECTIVES.iter().any(|c| word.eq_ignore_ascii_case(c))
            {
                // What follows explains the answer; it is not part of it.
                break;
            }
            let after_operand = toks.last().is_some_and(|t| {
                matches!(
                    t.tok,
                    Tok::Num(..) | Tok::Sym(')') | Tok::Sym('}') | Tok::Sym(']') | Tok::Ident(_)
                )
            });
            if word.len() >= 2 && FUNCTIONS.contains(&word.as_str()) {
                push(&mut toks, Tok::Cmd(word), &mut spaced);
            } else if (word.len() >= 2 && (spaced || !after_operand || is_unit_word(&word)))
                || (word.len() == 1 && spaced && after_operand && is_unit_word(&word))
            {
                // A unit after a number ("5 m"), or a word of a text answer.
                push(&mut toks, Tok::Word(word), &mut spaced);
            } else {
                for ch in word.chars() {
                    push(&mut toks, Tok::Ident(ch.to_string()), &mut spaced);
                }
            }
            i = j;
            continue;
        }
        if c == '\\' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            if j == start {
                let n = *chars.get(start)?;
                let tok = match n {
                    '{' => {
                        depth += 1;
                        Tok::SetOpen
                    }
                    '}' => {
                        depth -= 1;
                        Tok::SetClose
                    }
                    '\\' => Tok::RowSep,
                    '%' => Tok::Sym('%'),
                    '|' => Tok::Sym('|'),
                    _ => return None,
                };
                push(&mut toks, tok, &mut spaced);
                i = start + 1;
                continue;
            }
            let name: String = chars[start..j].iter().collect();
            i = j;
            match name.as_str() {
                "text" | "textbf" | "textit" | "mathrm" | "mathbf" | "mathit" | "mbox"
                | "textrm" | "mathsf" | "textsf" | "operatorname" | "emph" | "textup"
                | "mathtt" | "texttt" | "hbox" => {
                    let (content, next) = braced(&chars, i)?;
                    i = next;
                    let trimmed = content.trim();
                    let after_operand = toks.last().is_some_and(|t| {
                        matches!(t.tok, Tok::Num(..) | Tok::Sym(')') | Tok::Sym('}'))
                    });
                    let unit_after_number =
                        trimmed.len() == 1 && after_operand && is_unit_word(trimmed);
                    // Prose holds a word; single letters (`(C)`, `A, D`) are read as
                    // math, except a one-letter unit after a number (`5\text{ m}`).
                    let prose =
                        content.chars().all(|c| c.is_ascii_alphabetic() || " ()'.,-:".contains(c))
                            && (has_word(&content) || unit_after_number);
                    if prose {
                        if name == "operatorname"
                            || (trimmed.len() == 1
                                && name.starts_with("math")
                                && !unit_after_number)
                        {
                            push(&mut toks, Tok::Ident(trimmed.to_string()), &mut spaced);
                        } else {
                            // Texts are always a separate token, as if spaced.
                            spaced = true;
                            push(&mut toks, Tok::Text(trimmed.to_string()), &mut spaced);
                        }
                    } else {
                        // Math inside a text command (`\text{5 cm}`): read it inline.
                        let inner = tokenize_nested(&content, group, nesting + 1)?;
                        let mut first = true;
                        for mut t in inner {
                            if first {
                                t.spaced = true;
                                first = false;
                            }
                            toks.push(t);
                        }
                        spaced = true;
                    }
                }
                "begin" | "end" => {
                    let (env, next) = braced(&chars, i)?;
                    i = next;
                    let env = env.trim().trim_end_matches('*').to_string();
                    if name == "begin" {
                        // `array` carries a column spec we do not need.
                        if env == "array" {
                            let (_, next) = braced(&chars, i)?;
                            i = next;
                        }
                        push(&mut toks, Tok::Begin(env), &mut spaced);
                    } else {
                        push(&mut toks, Tok::End(env), &mut spaced);
                    }
                }
                "mathbb" | "mathcal" | "mathfrak" | "boxed" | "fbox" | "overline" | "bar"
                | "hat" | "vec" | "widehat" => {
                    // Decorations: the braced group that follows is the content.
                }
                "frac" | "binom" | "sqrt" => {
                    let nargs = if name == "sqrt" { 1 } else { 2 };
                    mark_digit_args(&chars, i, nargs, &mut single_digit);
                    push(&mut toks, Tok::Cmd(name), &mut spaced);
                }
                _ => push(&mut toks, Tok::Cmd(name), &mut spaced),
            }
            continue;
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if "+-*/^_()[]{},=<>!|&%;:'".contains(c) {
            push(&mut toks, Tok::Sym(c), &mut spaced);
            i += 1;
            continue;
        }
        return None;
    }
    Some(toks)
}

/// Whether `s` holds a run of two or more letters.
fn has_word(s: &str) -> bool {
    let mut run = 0;
    for c in s.chars() {
        run = if c.is_ascii_alphabetic() { run + 1 } else { 0 };
        if run >= 2 {
            return true;
        }
    }
    false
}

/// Marks the positions of bare single-digit arguments of a command taking `nargs`
/// arguments, starting at `chars[i]`.
fn mark_digit_args(chars: &[char], mut i: usize, nargs: usize, out: &mut Vec<usize>) {
    let skip_spaces = |mut i: usize| {
        while chars.get(i) == Some(&' ') {
            i += 1;
        }
        i
    };
    i = skip_spaces(i);
    // `\sqrt[3]{…}`: the index is not one of the arguments we split.
    if chars.get(i) == Some(&'[') {
        match chars[i..].iter().position(|&c| c == ']') {
            Some(k) => i += k + 1,
            None => return,
        }
    }
    for _ in 0..nargs {
        i = skip_spaces(i);
        match chars.get(i) {
            Some(c) if c.is_ascii_digit() => {
                out.push(i);
                i += 1;
            }
            Some('{') => match braced(chars, i) {
                Some((_, next)) => i = next,
                None => return,
            },
            Some('\\') => return,
            Some(_) => i += 1,
            None => return,
        }
    }
}

/// The content of `{…}` starting at `chars[i]` (after optional spaces).
fn braced(chars: &[char], mut i: usize) -> Option<(String, usize)> {
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    if chars.get(i) != Some(&'{') {
        return None;
    }
    let mut d = 0usize;
    for (k, &c) in chars.iter().enumerate().skip(i) {
        match c {
            '{' => d += 1,
            '}' => {
                d -= 1;
                if d == 0 {
                    return Some((chars[i + 1..k].iter().collect(), k + 1));
                }
            }
            _ => {}
        }
    }
    None
}

fn lex_number(chars: &[char], start: usize, top_level: bool) -> Option<(Tok, usize)> {
    let mut i = start;
    let mut digits = String::new();
    while i < chars.len() && chars[i].is_ascii_digit() {
        digits.push(chars[i]);
        i += 1;
    }
    // Thousands separators: `1,234`, `12,345,678` and `2 000 000`, only outside
    // brackets, with one kind of separator and groups of exactly three digits, so "1,0"
    // stays a list, "(1,000)" a pair and "1 1/2" a mixed number.
    if top_level && (1..=3).contains(&digits.len()) {
        let sep = chars.get(i).copied().filter(|c| *c == ',' || *c == ' ');
        let mut k = i;
        let mut grouped = String::new();
        while let Some(sep) = sep {
            let group_ok = chars.get(k) == Some(&sep)
                && k + 4 <= chars.len()
                && chars[k + 1..k + 4].iter().all(|c| c.is_ascii_digit())
                && !chars.get(k + 4).is_some_and(|c| c.is_ascii_digit())
                && !(sep == ' ' && chars.get(k + 4) == Some(&'/'));
            if !group_ok {
                break;
            }
            grouped.extend(chars[k + 1..k + 4].iter());
            k += 4;
        }
        if !grouped.is_empty() {
            digits.push_str(&grouped);
            i = k;
        }
    }
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        digits.push('.');
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            digits.push(chars[i]);
            i += 1;
        }
    }
    // Scientific notation `1.5e-3`: only directly attached, with a digit after the sign.
    let mut exp = 0i64;
    if matches!(chars.get(i), Some('e') | Some('E')) {
        let mut k = i + 1;
        let neg = chars.get(k) == Some(&'-');
        if matches!(chars.get(k), Some('+') | Some('-')) {
            k += 1;
        }
        if chars.get(k).is_some_and(|c| c.is_ascii_digit()) {
            let mut e = String::new();
            while k < chars.len() && chars[k].is_ascii_digit() {
                e.push(chars[k]);
                k += 1;
            }
            // A huge exponent is an attack or a typo; refuse rather than allocate.
            let v: i64 = e.parse().ok().filter(|v: &i64| *v <= 10_000)?;
            exp = if neg { -v } else { v };
            i = k;
        }
    }
    if digits.starts_with('.') {
        digits.insert(0, '0');
    }
    Some((Tok::Num(digits, exp), i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean(r"$\left( 1, 2 \right)$"), "( 1, 2 )");
        assert_eq!(clean(r"6,\!000"), "6,000");
        assert_eq!(clean(r"\dfrac{1}{2}."), r"\frac{1}{2}");
        assert_eq!(clean(r"68^\circ"), "68");
        assert_eq!(clean(r"\$40"), "40");
    }

    #[test]
    fn thousands_only_at_top_level() {
        let t = tokenize("1,000").unwrap();
        assert_eq!(t.len(), 1);
        let t = tokenize("(1,000)").unwrap();
        assert_eq!(t.len(), 5);
        let t = tokenize("1,0").unwrap();
        assert_eq!(t.len(), 3);
    }
}
