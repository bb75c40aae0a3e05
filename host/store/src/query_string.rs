//! A parser for the simple forms of `query_string`: `field:value`,
//! `field:"a phrase"`, `field:[a TO b]`, `field:*`, bare words, `AND`, `OR`,
//! `NOT`, `-`, and parentheses.

use crate::error::{StoreError, invalid};

/// A parsed query string.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// One value, on a field or the default field.
    Term {
        /// The field, when given.
        field: Option<String>,
        /// The value (`*` means the field exists).
        value: String,
        /// Whether the value was quoted.
        phrase: bool,
    },
    /// `field:[lower TO upper]` (inclusive) or `{lower TO upper}`.
    Range {
        /// The field.
        field: String,
        /// Lower bound, `*` for none.
        lower: String,
        /// Upper bound, `*` for none.
        upper: String,
        /// Square brackets.
        inclusive: bool,
    },
    /// `NOT x` or `-x`.
    Not(Box<Node>),
    /// `a AND b`.
    And(Vec<Node>),
    /// `a OR b`.
    Or(Vec<Node>),
    /// `a b`: joined by the default operator.
    Implicit(Vec<Node>),
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

/// Parses a query string.
pub fn parse(text: &str) -> Result<Node, StoreError> {
    let mut parser = Parser { text, at: 0 };
    let node = parser.or()?;
    parser.skip_space();
    if parser.at < text.len() {
        return Err(parser.error("unexpected text"));
    }
    Ok(node)
}

impl Parser<'_> {
    fn error(&self, what: &str) -> StoreError {
        invalid(format!(
            "`query_string` {what} at character {} of `{}`; the embedded store takes field:value, field:\"phrase\", field:[a TO b], AND, OR, NOT and parentheses",
            self.at + 1,
            self.text
        ))
    }

    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.skip_space();
        let rest = self.rest();
        if rest.starts_with(word)
            && rest[word.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '(')
        {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Node, StoreError> {
        let mut items = vec![self.and()?];
        while self.keyword("OR") || self.symbol("||") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn symbol(&mut self, symbol: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(symbol) {
            self.at += symbol.len();
            true
        } else {
            false
        }
    }

    fn and(&mut self) -> Result<Node, StoreError> {
        let mut items = vec![self.implicit()?];
        while self.keyword("AND") || self.symbol("&&") {
            items.push(self.implicit()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn implicit(&mut self) -> Result<Node, StoreError> {
        let mut items = vec![self.unary()?];
        loop {
            self.skip_space();
            let rest = self.rest();
            if rest.is_empty()
                || rest.starts_with(')')
                || rest.starts_with("OR ")
                || rest.starts_with("AND ")
                || rest.starts_with("||")
                || rest.starts_with("&&")
            {
                break;
            }
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Implicit(items)
        })
    }

    fn unary(&mut self) -> Result<Node, StoreError> {
        if self.keyword("NOT") || self.symbol("-") || self.symbol("!") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        self.symbol("+");
        if self.symbol("(") {
            let node = self.or()?;
            if !self.symbol(")") {
                return Err(self.error("a `(` is not closed"));
            }
            return Ok(node);
        }
        self.term()
    }

    fn term(&mut self) -> Result<Node, StoreError> {
        self.skip_space();
        let field = {
            let rest = self.rest();
            let len = rest
                .find(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')))
                .unwrap_or(rest.len());
            if len > 0 && rest[len..].starts_with(':') {
                let field = rest[..len].to_owned();
                self.at += len + 1;
                Some(field)
            } else {
                None
            }
        };
        if let Some(field) = &field
            && (self.symbol("[") || self.rest().starts_with('{'))
        {
            let inclusive = !self.symbol("{");
            let close = if inclusive { ']' } else { '}' };
            let end = self
                .rest()
                .find(close)
                .ok_or_else(|| self.error("a range is not closed"))?;
            let inner = self.rest()[..end].to_owned();
            self.at += end + 1;
            let (lower, upper) = inner
                .split_once(" TO ")
                .ok_or_else(|| self.error("a range needs `lower TO upper`"))?;
            return Ok(Node::Range {
                field: field.clone(),
                lower: lower.trim().to_owned(),
                upper: upper.trim().to_owned(),
                inclusive,
            });
        }
        if self.symbol("\"") {
            let end = self
                .rest()
                .find('"')
                .ok_or_else(|| self.error("a quote is not closed"))?;
            let value = self.rest()[..end].to_owned();
            self.at += end + 1;
            return Ok(Node::Term {
                field,
                value,
                phrase: true,
            });
        }
        let mut value = String::new();
        let mut chars = self.rest().char_indices().peekable();
        let mut used = 0;
        while let Some((i, c)) = chars.next() {
            if c.is_whitespace() || c == ')' || c == '(' {
                break;
            }
            if c == '\\'
                && let Some((j, escaped)) = chars.next()
            {
                value.push(escaped);
                used = j + escaped.len_utf8();
                continue;
            }
            value.push(c);
            used = i + c.len_utf8();
        }
        if value.is_empty() {
            return Err(self.error("a value is missing"));
        }
        self.at += used;
        if value != "*" && value.contains(['*', '?', '~', '^']) {
            return Err(self.error(&format!(
                "wildcards, fuzziness and boosts (`{value}`) are not supported"
            )));
        }
        Ok(Node::Term {
            field,
            value,
            phrase: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(field: &str, value: &str) -> Node {
        Node::Term {
            field: Some(field.into()),
            value: value.into(),
            phrase: false,
        }
    }

    #[test]
    fn fields_operators_and_groups() {
        assert_eq!(
            parse("event.outcome:failure AND NOT user.name:admin").unwrap(),
            Node::And(vec![
                term("event.outcome", "failure"),
                Node::Not(Box::new(term("user.name", "admin")))
            ])
        );
        assert_eq!(
            parse("(a:1 OR a:2) b:3").unwrap(),
            Node::Implicit(vec![
                Node::Or(vec![term("a", "1"), term("a", "2")]),
                term("b", "3")
            ])
        );
        assert_eq!(
            parse("destination.port:[1 TO 1024]").unwrap(),
            Node::Range {
                field: "destination.port".into(),
                lower: "1".into(),
                upper: "1024".into(),
                inclusive: true
            }
        );
        assert_eq!(
            parse("rule.name:\"ET SCAN\"").unwrap(),
            Node::Term {
                field: Some("rule.name".into()),
                value: "ET SCAN".into(),
                phrase: true
            }
        );
        assert_eq!(
            parse("source.ip:10.0.0.1").unwrap(),
            term("source.ip", "10.0.0.1")
        );
    }

    #[test]
    fn unsupported_forms_are_named() {
        let err = parse("user.name:adm*").unwrap_err().to_string();
        assert!(err.contains("wildcards"), "{err}");
        assert!(
            parse("(a:1")
                .unwrap_err()
                .to_string()
                .contains("not closed")
        );
    }
}
