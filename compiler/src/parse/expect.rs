//! Naming what pest expected: rule names become "an expression", "`;`", "a statement"...

use rtrace_grammar::Rule;

/// What each tried rule means to a reader; `None` for rules not worth mentioning.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Expect {
    Statement,
    Expression,
    Variable,
    Type,
    Name,
    ConfigItem,
    Probe,
    AttachPoint,
    Predicate,
    ActionBlock,
    /// Punctuation, ordered by its rank in [`TOKEN_ORDER`].
    Token(usize),
    EndOfInput,
    /// Operators that could continue an expression: mentioned only if nothing else fits.
    Operator,
}

fn describe(rule: Rule) -> Option<Expect> {
    use Expect::*;
    use Rule as R;
    Some(match rule {
        R::if_stmt
        | R::unroll_stmt
        | R::while_stmt
        | R::for_stmt
        | R::block_stmt
        | R::jump_stmt
        | R::let_stmt
        | R::assign_stmt
        | R::expr_stmt
        | R::angle_let_stmt
        | R::angle_assign_stmt
        | R::angle_expr_stmt => Statement,
        R::expr
        | R::pred_expr
        | R::angle_expr
        | R::binary
        | R::pred_binary
        | R::angle_binary
        | R::unary
        | R::prefix_op
        | R::cast_prefix
        | R::int_lit
        | R::str_lit
        | R::call
        | R::map_expr
        | R::map_name
        | R::positional
        | R::positional_count
        | R::ident
        | R::paren
        | R::sizeof_expr
        | R::offsetof_expr
        | R::for_range => Expression,
        R::var => Variable,
        R::type_name
        | R::tagged_type
        | R::c_int_type
        | R::known_type
        | R::pointee_type
        | R::plain_type => Type,
        R::name | R::field_path | R::tuple_digits => Name,
        R::config_item => ConfigItem,
        R::program | R::probe => Probe,
        R::attach_points | R::attach_point => AttachPoint,
        R::predicate => Predicate,
        R::block | R::lbrace => token("{"),
        R::angle_block | R::langle => token("<"),
        R::EOI => EndOfInput,
        R::infix_op
        | R::pred_infix_op
        | R::angle_infix_op
        | R::assign_op
        | R::ternary_tail
        | R::pred_ternary_tail
        | R::angle_ternary_tail
        | R::question
        | R::field_access
        | R::tuple_index
        | R::arrow_access
        | R::index_access
        | R::post_incdec
        | R::map_keys
        | R::lbrack
        | R::dot
        | R::arrow
        | R::pointer_star
        | R::array_suffix => Operator,
        _ => token(token_text(rule)?),
    })
}

/// Punctuation in the order it is listed in messages: "expected `,` or `)`".
const TOKEN_ORDER: [&str; 20] = [
    ",", ";", ":", "..", "=", ")", "]", "}", ">", "/", "(", "{", "<", "if", "else", "while", "for",
    "unroll", "let", "config",
];

/// Keywords that start statements: implied when "a statement" is expected.
const STATEMENT_KEYWORDS: [&str; 5] = ["if", "while", "for", "unroll", "let"];

fn token(text: &str) -> Expect {
    let rank = TOKEN_ORDER.iter().position(|t| *t == text);
    Expect::Token(rank.unwrap_or(TOKEN_ORDER.len()))
}

fn is_statement_keyword(e: &Expect) -> bool {
    STATEMENT_KEYWORDS.iter().any(|k| token(k) == *e)
}

/// The spelling of punctuation and keyword rules.
fn token_text(rule: Rule) -> Option<&'static str> {
    use Rule as R;
    Some(match rule {
        R::lparen => "(",
        R::rparen => ")",
        R::rbrack => "]",
        R::rbrace => "}",
        R::rangle => ">",
        R::semi => ";",
        R::comma => ",",
        R::colon => ":",
        R::slash => "/",
        R::dotdot => "..",
        R::assign_eq => "=",
        R::kw_if => "if",
        R::kw_else => "else",
        R::kw_while => "while",
        R::kw_for => "for",
        R::kw_unroll => "unroll",
        R::kw_let => "let",
        R::kw_config => "config",
        _ => return None,
    })
}

/// The readable expectations, deduplicated and pruned of noise.
pub fn expectations(positives: &[Rule]) -> Vec<String> {
    let mut found: Vec<Expect> = positives.iter().filter_map(|&r| describe(r)).collect();
    // Right after an attach point, a `/` starts a predicate.
    if found.contains(&token(",")) {
        found
            .iter_mut()
            .filter(|e| **e == token("/"))
            .for_each(|e| *e = Expect::Predicate);
    }
    found.sort();
    found.dedup();
    // Operators, and the `(` of a call after a name, continue what is already there: worth
    // mentioning only when nothing else would do.
    let continuation = |e: &Expect| *e == Expect::Operator || *e == token("(");
    if found.iter().any(|e| !continuation(e)) {
        found.retain(|e| !continuation(e));
    }
    // At the start of a statement, "a statement" covers expressions, keywords, `;` and `{`.
    if found.contains(&Expect::Statement) {
        found.retain(|e| {
            ![Expect::Expression, token(";"), token("{")].contains(e) && !is_statement_keyword(e)
        });
    }
    // An expression may start with `(` (a cast or parentheses), a variable or a type.
    if found.contains(&Expect::Expression) {
        found.retain(|e| !matches!(e, Expect::Variable | Expect::Type) && *e != token("("));
    }
    // Between probes, an attach point starts the next probe.
    if found.contains(&Expect::EndOfInput) && found.contains(&Expect::AttachPoint) {
        found.retain(|e| *e != Expect::AttachPoint && *e != token("config"));
        found.push(Expect::Probe);
        found.sort();
    }
    // Both action spellings collapse into one phrase.
    if found.contains(&token("{")) && found.contains(&token("<")) {
        found.retain(|e| ![token("{"), token("<")].contains(e));
        found.push(Expect::ActionBlock);
        found.sort();
    }
    found.into_iter().map(phrase).collect()
}

fn phrase(expect: Expect) -> String {
    match expect {
        Expect::Statement => "a statement".into(),
        Expect::Expression => "an expression".into(),
        Expect::Variable => "a variable like `$x`".into(),
        Expect::Type => "a type".into(),
        Expect::Name => "a name".into(),
        Expect::ConfigItem => "a setting `name = value`".into(),
        Expect::Probe => "a probe".into(),
        Expect::AttachPoint => "an attach point".into(),
        Expect::Predicate => "a predicate `/.../`".into(),
        Expect::ActionBlock => "an action block `{ ... }`".into(),
        Expect::Token(rank) => match TOKEN_ORDER.get(rank) {
            Some(text) => format!("`{text}`"),
            None => "a token".into(),
        },
        Expect::EndOfInput => "end of input".into(),
        Expect::Operator => "an operator".into(),
    }
}

/// "A", "A or B", "A, B or C".
pub fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
