//! OData `$filter` expressions as Microsoft Graph takes them on directory objects: parsed into a
//! tree, checked against what Graph supports ([`super::graph_query`]), and evaluated on an
//! object's JSON.
//!
//! Grammar (OData 4.01 §5.1.1, the subset directory objects accept):
//! `expr := and ('or' and)*`, `and := unary ('and' unary)*`, `unary := 'not' unary | primary`,
//! `primary := '(' expr ')' | fn '(' path ',' literal ')' | path op literal | path 'in' '(' literal, … ')'
//! | path '/any(' var ':' lambda ')'` with `fn` `startswith` or `endswith`, `op` one of `eq ne
//! ge le gt lt`, and literals quoted strings (a doubled quote inside), `null`, `true`, `false`,
//! numbers or GUIDs.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        path: String,
        op: String,
        value: Literal,
    },
    In {
        path: String,
        values: Vec<Literal>,
    },
    Func {
        name: String,
        path: String,
        value: Literal,
    },
    /// `coll/any(v: <expr over v>)`; inside, the variable's path is `$it`.
    Any {
        path: String,
        inner: Box<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
    Slash,
}

/// The tokens and the character position of each; an error names the position it stopped at.
fn lex(input: &str) -> Result<(Vec<Tok>, Vec<usize>), usize> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut at = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !matches!(c, ' ' | '\t') {
            at.push(i);
        }
        match c {
            ' ' | '\t' => i += 1,
            '(' => (out.push(Tok::Open), i += 1).1,
            ')' => (out.push(Tok::Close), i += 1).1,
            ',' => (out.push(Tok::Comma), i += 1).1,
            ':' => (out.push(Tok::Colon), i += 1).1,
            '/' => (out.push(Tok::Slash), i += 1).1,
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(i),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '(' | ')' | ',' | ':' | '/' | '\'') {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok((out, at))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// The lambda variable in scope, if any.
    var: Option<String>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?}, found {other:?}")),
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Literal::Str(s)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Tok::Word(w)) if w.parse::<f64>().is_ok() => Ok(Literal::Num(w.parse().unwrap_or_default())),
            // GUIDs and dates are unquoted in OData.
            Some(Tok::Word(w))
                if w.chars().all(|c| {
                    c.is_ascii_hexdigit() || c == '-' || c == ':' || c == '.' || c.is_ascii_alphanumeric()
                }) && w.contains('-') =>
            {
                Ok(Literal::Str(w))
            }
            other => Err(format!("expected a literal, found {other:?}")),
        }
    }
    /// A property path (`a` or `a/b`), or the lambda variable (`$it`).
    fn path(&mut self) -> Result<String, String> {
        let Some(Tok::Word(first)) = self.next() else { return Err("expected a property".into()) };
        if self.var.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(&first)) {
            if matches!(self.peek(), Some(Tok::Slash)) {
                self.pos += 1;
                let Some(Tok::Word(sub)) = self.next() else { return Err("expected a property".into()) };
                return Ok(format!("$it/{sub}"));
            }
            return Ok("$it".into());
        }
        let mut p = first;
        while matches!(self.peek(), Some(Tok::Slash))
            && !matches!(self.toks.get(self.pos + 1), Some(Tok::Word(w)) if w.eq_ignore_ascii_case("any") || w.eq_ignore_ascii_case("all"))
        {
            self.pos += 1;
            let Some(Tok::Word(sub)) = self.next() else { return Err("expected a property".into()) };
            p = format!("{p}/{sub}");
        }
        Ok(p)
    }
    fn primary(&mut self) -> Result<Expr, String> {
        if matches!(self.peek(), Some(Tok::Open)) {
            self.pos += 1;
            let e = self.expr()?;
            self.expect(Tok::Close)?;
            return Ok(e);
        }
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            let lower = w.to_ascii_lowercase();
            if (lower == "startswith" || lower == "endswith") && self.toks.get(self.pos + 1) == Some(&Tok::Open) {
                self.pos += 2;
                let path = self.path()?;
                self.expect(Tok::Comma)?;
                let value = self.literal()?;
                self.expect(Tok::Close)?;
                return Ok(Expr::Func { name: lower, path, value });
            }
        }
        let path = self.path()?;
        if matches!(self.peek(), Some(Tok::Slash)) {
            self.pos += 1;
            let Some(Tok::Word(f)) = self.next() else { return Err("expected any".into()) };
            if !f.eq_ignore_ascii_case("any") {
                return Err(format!("the lambda operator '{f}' is not supported"));
            }
            self.expect(Tok::Open)?;
            let Some(Tok::Word(var)) = self.next() else { return Err("expected a lambda variable".into()) };
            self.expect(Tok::Colon)?;
            let outer = self.var.replace(var);
            let inner = self.expr()?;
            self.var = outer;
            self.expect(Tok::Close)?;
            return Ok(Expr::Any { path, inner: Box::new(inner) });
        }
        let Some(Tok::Word(op)) = self.next() else { return Err("expected an operator".into()) };
        let op = op.to_ascii_lowercase();
        if op == "in" {
            self.expect(Tok::Open)?;
            let mut values = vec![self.literal()?];
            while matches!(self.peek(), Some(Tok::Comma)) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(Tok::Close)?;
            return Ok(Expr::In { path, values });
        }
        if !matches!(op.as_str(), "eq" | "ne" | "ge" | "le" | "gt" | "lt") {
            return Err(format!("unknown operator '{op}'"));
        }
        let value = self.literal()?;
        Ok(Expr::Cmp { path, op, value })
    }
}

/// Parses a `$filter`; a syntax error gives the character position where it was found (the
/// end of the text when something is missing), as Graph's "Syntax error at position n".
pub fn parse(filter: &str) -> Result<Expr, usize> {
    let (toks, at) = lex(filter)?;
    let end = filter.chars().count();
    let mut p = Parser { toks, pos: 0, var: None };
    let position = |p: &Parser| at.get(p.pos.saturating_sub(1)).copied().unwrap_or(end);
    let e = p.expr().map_err(|_| position(&p))?;
    if p.pos != p.toks.len() {
        return Err(at.get(p.pos).copied().unwrap_or(end));
    }
    Ok(e)
}

/// Every (property path, operator) the expression uses; `any` adds `path/any` and the inner
/// ones as `path` with their operator (so a rule table can be checked).
pub fn uses(e: &Expr, out: &mut Vec<(String, String)>) {
    match e {
        Expr::Or(a, b) => {
            out.push((String::new(), "or".into()));
            uses(a, out);
            uses(b, out);
        }
        Expr::And(a, b) => {
            uses(a, out);
            uses(b, out);
        }
        Expr::Not(a) => {
            out.push((String::new(), "not".into()));
            uses(a, out);
        }
        Expr::Cmp { path, op, .. } => out.push((path.clone(), op.clone())),
        Expr::In { path, .. } => out.push((path.clone(), "in".into())),
        Expr::Func { name, path, .. } => out.push((path.clone(), name.clone())),
        Expr::Any { path, inner } => {
            let mut inner_uses = Vec::new();
            uses(inner, &mut inner_uses);
            for (p, op) in inner_uses {
                let full = if p == "$it" { path.clone() } else { p.replacen("$it", path, 1) };
                out.push((full, format!("any/{op}")));
            }
        }
    }
}

fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(obj, |v, k| {
        v.as_object().and_then(|m| m.iter().find(|(x, _)| x.eq_ignore_ascii_case(k))).map(|(_, v)| v)
    })
}

fn compare(v: Option<&Value>, op: &str, lit: &Literal) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, lit) {
        (None | Some(Value::Null), Literal::Null) => Some(Ordering::Equal),
        (None | Some(Value::Null), _) | (Some(_), Literal::Null) => None,
        // Directory string comparisons ignore case.
        (Some(Value::String(s)), Literal::Str(l)) => Some(s.to_ascii_lowercase().cmp(&l.to_ascii_lowercase())),
        (Some(Value::Bool(b)), Literal::Bool(l)) => Some(b.cmp(l)),
        (Some(Value::Number(n)), Literal::Num(l)) => n.as_f64().and_then(|x| x.partial_cmp(l)),
        _ => None,
    };
    match op {
        "eq" => ord == Some(Ordering::Equal),
        "ne" => ord != Some(Ordering::Equal),
        "ge" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        "le" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        "gt" => ord == Some(Ordering::Greater),
        "lt" => ord == Some(Ordering::Less),
        _ => false,
    }
}

fn eval_at(e: &Expr, obj: &Value, it: Option<&Value>) -> bool {
    let resolve = |path: &str| -> Option<Value> {
        match (path, it) {
            ("$it", Some(v)) => Some(v.clone()),
            (p, Some(v)) if p.starts_with("$it/") => lookup(v, &p[4..]).cloned(),
            (p, _) => lookup(obj, p).cloned(),
        }
    };
    match e {
        Expr::Or(a, b) => eval_at(a, obj, it) || eval_at(b, obj, it),
        Expr::And(a, b) => eval_at(a, obj, it) && eval_at(b, obj, it),
        Expr::Not(a) => !eval_at(a, obj, it),
        Expr::Cmp { path, op, value } => compare(resolve(path).as_ref(), op, value),
        Expr::In { path, values } => {
            let v = resolve(path);
            values.iter().any(|l| compare(v.as_ref(), "eq", l))
        }
        Expr::Func { name, path, value } => {
            let (Some(Value::String(s)), Literal::Str(l)) = (resolve(path), value) else { return false };
            let (s, l) = (s.to_ascii_lowercase(), l.to_ascii_lowercase());
            if name == "startswith" { s.starts_with(&l) } else { s.ends_with(&l) }
        }
        Expr::Any { path, inner } => match resolve(path) {
            Some(Value::Array(items)) => items.iter().any(|x| eval_at(inner, obj, Some(x))),
            _ => false,
        },
    }
}

/// Whether the object passes the filter.
pub fn eval(e: &Expr, obj: &Map<String, Value>) -> bool {
    eval_at(e, &Value::Object(obj.clone()), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pass(f: &str, o: Value) -> bool {
        eval(&parse(f).unwrap(), o.as_object().unwrap())
    }

    #[test]
    fn the_forms_clients_send() {
        let app = json!({ "displayName": "KODO for Cloud", "appId": "a1", "tags": ["KodoManaged", "x"], "signInAudience": "AzureADMyOrg", "identifierUris": [] });
        assert!(pass("displayName eq 'kodo for cloud'", app.clone()));
        assert!(pass("startswith(displayName,'KODO')", app.clone()));
        assert!(pass("tags/any(t:t eq 'KodoManaged')", app.clone()));
        assert!(pass("appId in ('zz', 'a1')", app.clone()));
        assert!(pass(
            "appId eq 'zz' or (startswith(displayName, 'KO') and signInAudience eq 'AzureADMyOrg')",
            app.clone()
        ));
        assert!(pass("not(appId eq 'zz')", app.clone()));
        assert!(!pass("identifierUris/any(x:startswith(x,'api://'))", app.clone()));
        assert!(pass("displayName eq 'it''s'", json!({ "displayName": "it's" })));
        assert!(pass("description eq null", json!({ "description": null })));
    }

    #[test]
    fn syntax_errors_are_errors() {
        for bad in [
            "displayName eq",
            "displayName foo 'x'",
            "(displayName eq 'x'",
            "displayName eq 'x",
            "tags/all(t:t eq 'x')",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uses_names_each_property_and_operator() {
        let mut u = Vec::new();
        uses(&parse("tags/any(t:t eq 'a') or not startswith(displayName,'b')").unwrap(), &mut u);
        assert!(u.contains(&("tags".into(), "any/eq".into())));
        assert!(u.contains(&("displayName".into(), "startswith".into())));
        assert!(u.contains(&(String::new(), "or".into())));
        assert!(u.contains(&(String::new(), "not".into())));
    }
}
