//! A shape check for GBNF grammars before they reach llama.cpp.
//!
//! llama.cpp parses a grammar with a recursive descent parser, one stack frame per level
//! of parentheses, and expands `x{m,n}` repetitions by copying. A request is untrusted:
//! a 10 KB grammar of 5,000 nested parentheses overflowed a server thread's stack and
//! aborted the whole process, and a few nested repetitions would expand to millions of
//! elements. This scan is iterative and linear; it refuses grammars that are too long,
//! nest too deep or repeat too much, before any parser sees them. It does not check that
//! the grammar is valid (llama.cpp does, and its errors are returned as such).

/// Longest grammar accepted, in bytes.
pub const MAX_GRAMMAR_BYTES: usize = 64 * 1024;
/// Deepest nesting of parentheses accepted. Real grammars (JSON, arithmetic) nest a few
/// levels.
pub const MAX_GRAMMAR_DEPTH: usize = 32;
/// Largest product of repetition counts along one nesting path (`("a"{8}){8}` is 64).
pub const MAX_GRAMMAR_REPETITION: u64 = 4096;

/// Checks the shape of a grammar; the error says what is wrong.
///
/// ```
/// use hypatia_llm::grammar::check_grammar;
/// assert!(check_grammar(r#"root ::= "yes" | "no""#).is_ok());
/// let deep = format!("root ::= {}\"a\"{}", "(".repeat(5000), ")".repeat(5000));
/// assert!(check_grammar(&deep).unwrap_err().contains("nest"));
/// assert!(check_grammar(r#"root ::= (("a"{100}){100})"#).unwrap_err().contains("repeat"));
/// ```
pub fn check_grammar(grammar: &str) -> Result<(), String> {
    if grammar.len() > MAX_GRAMMAR_BYTES {
        return Err(format!("the grammar is longer than {MAX_GRAMMAR_BYTES} bytes"));
    }
    let bytes = grammar.as_bytes();
    // For each open group: the largest repetition product inside it so far.
    let mut groups: Vec<u64> = vec![1];
    // The product the last atom (or closed group) carries, for a `{m,n}` that follows it.
    let mut last: u64 = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            quote @ (b'"' | b'[') => {
                let close = if quote == b'"' { b'"' } else { b']' };
                i += 1;
                while i < bytes.len() && bytes[i] != close {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Err("the grammar has an unterminated string or character class".into());
                }
                last = 1;
            }
            b'(' => {
                groups.push(1);
                if groups.len() > MAX_GRAMMAR_DEPTH + 1 {
                    return Err(format!(
                        "the grammar nests parentheses more than {MAX_GRAMMAR_DEPTH} deep"
                    ));
                }
            }
            b')' => {
                if groups.len() == 1 {
                    return Err("the grammar closes a parenthesis it never opened".into());
                }
                last = groups.pop().unwrap_or(1);
                note(&mut groups, last);
            }
            b'{' => {
                let end =
                    grammar[i..].find('}').map(|k| i + k).ok_or("the grammar has an unclosed {")?;
                let count = repetition(&grammar[i + 1..end])?;
                let product = last.saturating_mul(count);
                if product > MAX_GRAMMAR_REPETITION {
                    return Err(format!(
                        "the grammar repeats an element more than {MAX_GRAMMAR_REPETITION} times"
                    ));
                }
                note(&mut groups, product);
                i = end;
            }
            b'\n' => {
                // A new rule starts on a line of its own; products do not cross rules.
                if groups.len() == 1 {
                    groups[0] = 1;
                }
                last = 1;
            }
            _ => {}
        }
        i += 1;
    }
    if groups.len() != 1 {
        return Err("the grammar leaves a parenthesis open".into());
    }
    Ok(())
}

fn note(groups: &mut [u64], product: u64) {
    if let Some(top) = groups.last_mut() {
        *top = (*top).max(product);
    }
}

/// The largest count of `{m}`, `{m,}`, `{,n}` or `{m,n}` (an open end counts as `m + 1`).
fn repetition(inner: &str) -> Result<u64, String> {
    let bad = || format!("the grammar has a malformed repetition {{{inner}}}");
    let parse = |s: &str| -> Result<Option<u64>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<u64>().map(Some).map_err(|_| bad())
    };
    match inner.split_once(',') {
        None => parse(inner)?.ok_or_else(bad),
        Some((m, n)) => match (parse(m)?, parse(n)?) {
            (_, Some(n)) => Ok(n),
            (Some(m), None) => Ok(m.saturating_add(1)),
            (None, None) => Err(bad()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_grammars_pass() {
        let json = r#"
root ::= "{" ws "\"verdict\":" ws verdict ws "}"
verdict ::= "\"CORRECT\"" | "\"INCORRECT\""  # a comment with ( and {
ws ::= [ \t\n]{0,20}
digits ::= [0-9]{1,10} ("." [0-9]{1,10})?
"#;
        assert_eq!(check_grammar(json), Ok(()));
        assert_eq!(check_grammar(r#"root ::= "(" [)(] "\")""#), Ok(()));
    }

    #[test]
    fn hostile_grammars_are_refused() {
        assert!(check_grammar(&"a".repeat(MAX_GRAMMAR_BYTES + 1)).is_err());
        let nest = |d: usize| format!("root ::= {}\"a\"{}", "(".repeat(d), ")".repeat(d));
        assert!(check_grammar(&nest(MAX_GRAMMAR_DEPTH)).is_ok());
        assert!(check_grammar(&nest(MAX_GRAMMAR_DEPTH + 1)).is_err());
        assert!(check_grammar(r#"root ::= ((("a"{16}){16}){17})"#).is_err());
        assert!(check_grammar(r#"root ::= ((("a"{16}){16}){16})"#).is_ok());
        assert!(check_grammar(r#"root ::= "a"{99999999999999999999}"#).is_err());
        assert!(check_grammar(r#"root ::= "unterminated"#).is_err());
        assert!(check_grammar("root ::= (\"a\"").is_err());
        assert!(check_grammar("root ::= \"a\")").is_err());
    }
}
