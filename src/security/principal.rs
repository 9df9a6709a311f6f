//! Who a client is: the [`KafkaPrincipal`] that ACLs name, and the
//! [`SslPrincipalMapper`] that turns a TLS client certificate's distinguished name into
//! one, as Kafka's `DefaultKafkaPrincipalBuilder` and `SslPrincipalMapper` do.
//!
//! # `ssl.principal.mapping.rules`
//!
//! The config is a comma-separated list of rules, tried in order; the first that
//! applies gives the principal's name:
//!
//! - `DEFAULT`: the distinguished name itself.
//! - `RULE:pattern/replacement/` or `RULE:pattern/replacement/L` (or `/U`): applies
//!   when `pattern` matches the *whole* distinguished name; every match of `pattern`
//!   in the name is then replaced by `replacement` (Java's `String.replaceAll`), and
//!   the result is lower-cased (`L`) or upper-cased (`U`) if asked.
//!
//! The list is split with Kafka's own regular expression, so the edge cases match
//! Kafka's: a `/` inside a pattern or replacement is written `\/` (any `\x` is kept as
//! the two characters and handed to the regex), commas need no escaping inside a rule,
//! whitespace around rules and empty rules between commas are ignored, and anything
//! after the rule's last `/` and its `L`/`U` is an error.
//!
//! Replacements follow Java's `Matcher.appendReplacement` (`$1`, `${name}`, `\$`),
//! after Kafka's rewrite that turns references to groups the pattern does not have
//! into literal text (`$4` with three groups stays `$4`; `$12` with one group is
//! group 1 followed by `2`).
//!
//! # Differences from Kafka, all at config time
//!
//! - Patterns are compiled by the `regex` crate, not `java.util.regex`: look-around,
//!   back-references, possessive quantifiers and `\Q…\E` are refused as invalid
//!   patterns, and `\w`, `\d`, `\s`, `\b` are Unicode-aware.
//! - A replacement that Java would reject each time its rule matches (a trailing `\`
//!   or `$`, `$x`, a `${name}` the pattern lacks, `$1` in a pattern without groups) is
//!   refused when the rules are parsed, where Kafka fails the client's connection.
//!
//! # Input
//!
//! [`SslPrincipalMapper::get_name`] expects the distinguished name in RFC 2253 form, as
//! Java's `X500Principal.getName()` writes it (`CN=Duke,OU=ServiceUsers,O=Org,C=US`:
//! most specific first, no space after commas, special characters escaped as `\,`), so
//! that rules written for Kafka work unchanged.
//!
//! This module never looks at certificates or sockets; the TLS layer hands it the
//! distinguished name.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A principal: the type of the identity and its name, written `Type:name`.
///
/// Aeon's principal builders only make [`KafkaPrincipal::USER_TYPE`] principals; ACLs
/// may name any type. Equality is on both fields, as in Kafka.
///
/// Serialized (serde) as its `Type:name` string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KafkaPrincipal {
    /// The principal's type, `User` for every principal Aeon authenticates.
    pub principal_type: String,
    /// The principal's name: the user name, or what the SSL mapping rules made of the
    /// certificate's distinguished name.
    pub name: String,
}

impl KafkaPrincipal {
    /// The type of every principal Aeon's authenticators build.
    pub const USER_TYPE: &'static str = "User";

    /// The name of the principal of a client that did not authenticate.
    pub const ANONYMOUS_NAME: &'static str = "ANONYMOUS";

    /// A principal of the given type and name.
    pub fn new(principal_type: impl Into<String>, name: impl Into<String>) -> Self {
        KafkaPrincipal {
            principal_type: principal_type.into(),
            name: name.into(),
        }
    }

    /// A `User` principal.
    pub fn user(name: impl Into<String>) -> Self {
        KafkaPrincipal::new(Self::USER_TYPE, name)
    }

    /// `User:ANONYMOUS`, the principal of a plaintext client, or of a TLS client that
    /// presented no certificate.
    pub fn anonymous() -> Self {
        KafkaPrincipal::user(Self::ANONYMOUS_NAME)
    }

    /// Whether this is `User:ANONYMOUS`.
    pub fn is_anonymous(&self) -> bool {
        self.principal_type == Self::USER_TYPE && self.name == Self::ANONYMOUS_NAME
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// A string that is not `Type:name`.
///
/// The message is Kafka's (`SecurityUtils.parseKafkaPrincipal`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expected a string in format principalType:principalName but got {input}")]
pub struct PrincipalParseError {
    /// The string that was refused.
    pub input: String,
}

impl FromStr for KafkaPrincipal {
    type Err = PrincipalParseError;

    /// Splits at the first colon, as Kafka does: `User:a:b` is the user `a:b`, `User:`
    /// is a user with an empty name; a string without a colon is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((principal_type, name)) => Ok(KafkaPrincipal::new(principal_type, name)),
            None => Err(PrincipalParseError {
                input: s.to_owned(),
            }),
        }
    }
}

impl TryFrom<String> for KafkaPrincipal {
    type Error = PrincipalParseError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<KafkaPrincipal> for String {
    fn from(principal: KafkaPrincipal) -> Self {
        principal.to_string()
    }
}

/// A mapping-rules string that Aeon refuses at config time.
#[derive(Debug, Clone, Error)]
pub enum MappingRuleError {
    /// A rule that is neither `DEFAULT` nor `RULE:…/…/` (Kafka's message).
    #[error("Invalid rule: {rule}")]
    InvalidRule {
        /// The rule as split from the list.
        rule: String,
    },
    /// A rule followed by text that is not part of it, e.g. `DEFAULT/L` (Kafka's
    /// message).
    #[error("Invalid rule: `{rule}`, unmatched substring: `{unmatched}`")]
    UnmatchedSubstring {
        /// The rule as split from the list.
        rule: String,
        /// The text after the part that parsed.
        unmatched: String,
    },
    /// A rule whose pattern the regex engine does not accept.
    #[error("Invalid rule: `{rule}`, invalid pattern: {source}")]
    InvalidPattern {
        /// The rule as split from the list.
        rule: String,
        /// Why the pattern was refused.
        source: regex::Error,
    },
    /// A rule whose replacement Java would reject each time the rule matched.
    #[error("Invalid rule: `{rule}`, invalid replacement: {reason}")]
    InvalidReplacement {
        /// The rule as split from the list.
        rule: String,
        /// Java's complaint, e.g. `No group 1`.
        reason: String,
    },
    /// The rule grammar itself failed to compile. It is a constant, so this does not
    /// happen; the variant exists so that no path panics.
    #[error("the ssl.principal.mapping.rules grammar failed to compile: {0}")]
    Grammar(regex::Error),
}

/// No rule applies to a distinguished name; the client cannot be given a principal.
///
/// The message is Kafka's (`SslPrincipalMapper.NoMatchingRule`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("No rules apply to {distinguished_name}, rules {rules}")]
pub struct NoMatchingRule {
    /// The distinguished name no rule applied to.
    pub distinguished_name: String,
    /// The configured rules, as `[rule, rule]`.
    pub rules: String,
}

/// Java's `.`: any character but a line terminator.
const JAVA_DOT: &str = r"[^\n\r\x{85}\x{2028}\x{2029}]";

/// Java's default `\s`: ASCII whitespace only.
const JAVA_SPACE: &str = r"[ \t\n\x0B\x0C\r]";

/// Kafka's `RULE_PATTERN`, with Java's `.` spelled out. Groups: 1 `DEFAULT`, 2 the
/// pattern, 4 the replacement, 6 `L` or `U`, 7 anything else.
fn rule_pattern() -> String {
    let dot = JAVA_DOT;
    format!(r"(DEFAULT)|RULE:((\\{dot}|[^\\/])*)/((\\{dot}|[^\\/])*)/([LU]?){dot}*?|({dot}*?)")
}

/// Kafka's `RULE_SPLITTER`: one rule (group 1) and the comma after it.
static RULE_SPLITTER: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    let s = JAVA_SPACE;
    Regex::new(&format!(r"{s}*({}){s}*(,{s}*|$)", rule_pattern()))
});

/// Kafka's `RULE_PARSER`, anchored at the start as `Matcher.lookingAt` is.
static RULE_PARSER: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(&format!(r"\A(?:{})", rule_pattern())));

/// Maps a TLS client's distinguished name to a principal name with the
/// `ssl.principal.mapping.rules` config (see the module doc).
///
/// Parsing is done once, at config time; [`SslPrincipalMapper::get_name`] does not
/// allocate beyond the name it returns and cannot fail but for [`NoMatchingRule`].
#[derive(Debug, Clone)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

impl SslPrincipalMapper {
    /// Kafka's default for `ssl.principal.mapping.rules`: the whole distinguished name.
    pub const DEFAULT_RULES: &'static str = "DEFAULT";

    /// Parses `ssl.principal.mapping.rules`.
    ///
    /// An empty string gives a mapper with no rules, which maps nothing (as in Kafka);
    /// the config's default is [`SslPrincipalMapper::DEFAULT_RULES`].
    pub fn from_rules(rules: &str) -> Result<Self, MappingRuleError> {
        let rules = split_rules(rules)?
            .into_iter()
            .map(parse_rule)
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SslPrincipalMapper { rules })
    }

    /// The principal name for a distinguished name: the result of the first rule that
    /// applies.
    pub fn get_name(&self, distinguished_name: &str) -> Result<String, NoMatchingRule> {
        self.rules
            .iter()
            .find_map(|rule| rule.apply(distinguished_name))
            .ok_or_else(|| NoMatchingRule {
                distinguished_name: distinguished_name.to_owned(),
                rules: self.rules_list(),
            })
    }

    /// The principal of a TLS client, as Kafka's `DefaultKafkaPrincipalBuilder` builds
    /// it: `User:ANONYMOUS` without a client certificate (`None`), else a `User` named
    /// by the mapping rules.
    pub fn principal(
        &self,
        peer_distinguished_name: Option<&str>,
    ) -> Result<KafkaPrincipal, NoMatchingRule> {
        match peer_distinguished_name {
            None => Ok(KafkaPrincipal::anonymous()),
            Some(dn) => self.get_name(dn).map(KafkaPrincipal::user),
        }
    }

    /// The rules as Kafka prints them: `[DEFAULT, RULE:pattern/replacement/L]`.
    fn rules_list(&self) -> String {
        let rules: Vec<String> = self.rules.iter().map(ToString::to_string).collect();
        format!("[{}]", rules.join(", "))
    }
}

impl Default for SslPrincipalMapper {
    /// The mapper for Kafka's default rules, `DEFAULT`.
    fn default() -> Self {
        SslPrincipalMapper {
            rules: vec![Rule::Default],
        }
    }
}

impl fmt::Display for SslPrincipalMapper {
    /// Kafka's `toString`: `SslPrincipalMapper(rules = [DEFAULT])`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SslPrincipalMapper(rules = {})", self.rules_list())
    }
}

/// Splits the config into rule strings, as Kafka's `splitRules`.
fn split_rules(rules: &str) -> Result<Vec<&str>, MappingRuleError> {
    let splitter = RULE_SPLITTER
        .as_ref()
        .map_err(|e| MappingRuleError::Grammar(e.clone()))?;
    // Java's `String.trim` drops every char up to U+0020, not Unicode whitespace.
    let trimmed = rules.trim_matches(|c: char| c <= ' ');
    Ok(splitter
        .captures_iter(trimmed)
        .map(|caps| caps.get(1).map_or("", |m| m.as_str()))
        .collect())
}

/// Parses one rule string, as Kafka's `parseRules`; an empty rule gives `None`.
fn parse_rule(rule: &str) -> Result<Option<Rule>, MappingRuleError> {
    let parser = RULE_PARSER
        .as_ref()
        .map_err(|e| MappingRuleError::Grammar(e.clone()))?;
    let Some(caps) = parser.captures(rule) else {
        return Err(MappingRuleError::InvalidRule {
            rule: rule.to_owned(),
        });
    };
    let end = caps.get(0).map_or(0, |m| m.end());
    if end != rule.len() {
        return Err(MappingRuleError::UnmatchedSubstring {
            rule: rule.to_owned(),
            unmatched: rule.get(end..).unwrap_or_default().to_owned(),
        });
    }
    if caps.get(1).is_some() {
        return Ok(Some(Rule::Default));
    }
    let Some(pattern) = caps.get(2) else {
        // Only the catch-all alternative matched, and it matched everything: the
        // rule is empty (Kafka ignores empty rules).
        return Ok(None);
    };
    let replacement = caps.get(4).map_or("", |m| m.as_str());
    let case = match caps.get(6).map(|m| m.as_str()) {
        Some("L") => Case::Lower,
        Some("U") => Case::Upper,
        _ => Case::Keep,
    };
    ReplaceRule::new(rule, pattern.as_str(), replacement, case).map(|r| Some(Rule::Replace(r)))
}

/// One parsed mapping rule.
#[derive(Debug, Clone)]
enum Rule {
    /// `DEFAULT`: the distinguished name as it is.
    Default,
    /// `RULE:pattern/replacement/[LU]`.
    Replace(ReplaceRule),
}

impl Rule {
    /// The principal name, or `None` if the rule does not apply.
    fn apply(&self, distinguished_name: &str) -> Option<String> {
        match self {
            Rule::Default => Some(distinguished_name.to_owned()),
            Rule::Replace(rule) => rule.apply(distinguished_name),
        }
    }
}

impl fmt::Display for Rule {
    /// Kafka's `Rule.toString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Default => f.write_str("DEFAULT"),
            Rule::Replace(rule) => {
                write!(f, "RULE:{}/{}", rule.pattern, rule.replacement)?;
                match rule.case {
                    Case::Lower => f.write_str("/L"),
                    Case::Upper => f.write_str("/U"),
                    Case::Keep => Ok(()),
                }
            }
        }
    }
}

/// What a rule does to the case of its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// A `RULE:pattern/replacement/[LU]` rule, compiled.
#[derive(Debug, Clone)]
struct ReplaceRule {
    /// The pattern as written, for display.
    pattern: String,
    /// The replacement as written, for display.
    replacement: String,
    /// The pattern anchored at both ends: Java's `Matcher.matches`.
    whole: Regex,
    /// The pattern as written, for the replace-all pass.
    find: Regex,
    /// The replacement, parsed once.
    pieces: Vec<Piece>,
    case: Case,
}

/// A piece of a parsed replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Group(usize),
}

impl ReplaceRule {
    fn new(
        rule: &str,
        pattern: &str,
        replacement: &str,
        case: Case,
    ) -> Result<Self, MappingRuleError> {
        let invalid_pattern = |source| MappingRuleError::InvalidPattern {
            rule: rule.to_owned(),
            source,
        };
        let find = Regex::new(pattern).map_err(invalid_pattern)?;
        // `pattern` compiled alone, so its groups balance and wrapping it cannot change
        // what it means; at worst a trailing `(?x)` comment swallows the wrapper and
        // the compile fails.
        let whole = Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(invalid_pattern)?;
        let invalid_replacement = |reason| MappingRuleError::InvalidReplacement {
            rule: rule.to_owned(),
            reason,
        };
        let group_count = find.captures_len().saturating_sub(1);
        let escaped = escape_literal_back_references(replacement, group_count)
            .map_err(invalid_replacement)?;
        let pieces = parse_replacement(&escaped, &find).map_err(invalid_replacement)?;
        Ok(ReplaceRule {
            pattern: pattern.to_owned(),
            replacement: replacement.to_owned(),
            whole,
            find,
            pieces,
            case,
        })
    }

    fn apply(&self, distinguished_name: &str) -> Option<String> {
        if !self.whole.is_match(distinguished_name) {
            return None;
        }
        let replaced = java_replace_all(&self.find, distinguished_name, &self.pieces);
        Some(match self.case {
            Case::Keep => replaced,
            Case::Lower => replaced.to_lowercase(),
            Case::Upper => replaced.to_uppercase(),
        })
    }
}

/// Java's `Matcher.replaceAll`: unlike the `regex` crate's `replace_all`, an empty
/// match right after a non-empty one counts (`".*"` replaces `"abc"` twice).
fn java_replace_all(re: &Regex, text: &str, pieces: &[Piece]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut appended = 0;
    let mut search_from = 0;
    while search_from <= text.len() {
        let Some(caps) = re.captures_at(text, search_from) else {
            break;
        };
        let Some(m) = caps.get(0) else {
            break;
        };
        out.push_str(text.get(appended..m.start()).unwrap_or_default());
        append_replacement(&mut out, &caps, pieces);
        appended = m.end();
        search_from = if m.start() == m.end() {
            // After an empty match Java moves on by one character.
            text.get(m.end()..)
                .and_then(|rest| rest.chars().next())
                .map_or(text.len() + 1, |c| m.end() + c.len_utf8())
        } else {
            m.end()
        };
    }
    out.push_str(text.get(appended..).unwrap_or_default());
    out
}

fn append_replacement(out: &mut String, caps: &Captures<'_>, pieces: &[Piece]) {
    for piece in pieces {
        match piece {
            Piece::Literal(s) => out.push_str(s),
            // A group that did not take part in the match adds nothing, as in Java.
            Piece::Group(i) => out.push_str(caps.get(*i).map_or("", |m| m.as_str())),
        }
    }
}

/// Kafka's `escapeLiteralBackReferences` (taken by Kafka from Apache NiFi): `$n` for a
/// group the pattern does not have becomes literal, after trying the longest valid
/// prefix of `n`.
///
/// Ported as is, in UTF-16 code units like the Java: it finds the references in the
/// original string but inserts the escapes into the string it is rewriting, so a
/// second escape lands one place early per earlier escape. Kafka users live with that,
/// so Aeon does too.
fn escape_literal_back_references(unescaped: &str, group_count: usize) -> Result<String, String> {
    if group_count == 0 {
        return Ok(unescaped.to_owned());
    }
    const DOLLAR: u16 = b'$' as u16;
    const BACKSLASH: u16 = b'\\' as u16;
    let is_digit = |u: &u16| (u16::from(b'0')..=u16::from(b'9')).contains(u);
    let original: Vec<u16> = unescaped.encode_utf16().collect();
    let mut value = original.clone();
    let mut i = 0;
    while i < original.len() {
        let starts_reference =
            original.get(i) == Some(&DOLLAR) && original.get(i + 1).is_some_and(is_digit);
        if !starts_reference {
            i += 1;
            continue;
        }
        let group_start = i + 1;
        let mut group_end = group_start;
        while original.get(group_end).is_some_and(is_digit) {
            group_end += 1;
        }
        i = group_end;
        let digits = String::from_utf16_lossy(original.get(group_start..group_end).unwrap_or(&[]));
        if digits.starts_with('0') {
            continue;
        }
        // Java's `Integer.parseInt`, which throws past i32::MAX.
        let mut index = digits
            .parse::<i32>()
            .map_err(|_| format!("For input string: \"{digits}\""))?;
        let groups = i32::try_from(group_count).unwrap_or(i32::MAX);
        while index > groups && index >= 10 {
            index /= 10;
        }
        if index > groups {
            let at = group_start - 1;
            if at > value.len() {
                return Err(format!(
                    "index {at} out of bounds for length {}",
                    value.len()
                ));
            }
            value.insert(at, BACKSLASH);
        }
    }
    String::from_utf16(&value).map_err(|e| e.to_string())
}

/// Parses a replacement as Java's `Matcher.appendReplacement` reads it, failing where
/// Java would throw. The messages are Java's.
fn parse_replacement(replacement: &str, re: &Regex) -> Result<Vec<Piece>, String> {
    let group_count = re.captures_len().saturating_sub(1);
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => literal.push(escaped),
                None => return Err("character to be escaped is missing".to_owned()),
            },
            '$' => {
                let group = match chars.next() {
                    None => {
                        return Err("Illegal group reference: group index is missing".to_owned())
                    }
                    Some('{') => {
                        let mut name = String::new();
                        while let Some(&c) = chars.peek() {
                            if !c.is_ascii_alphanumeric() {
                                break;
                            }
                            name.push(c);
                            chars.next();
                        }
                        if name.is_empty() {
                            return Err("named capturing group has 0 length name".to_owned());
                        }
                        if chars.next() != Some('}') {
                            return Err("named capturing group is missing trailing '}'".to_owned());
                        }
                        if name.starts_with(|c: char| c.is_ascii_digit()) {
                            return Err(format!(
                                "capturing group name {{{name}}} starts with digit character"
                            ));
                        }
                        re.capture_names()
                            .position(|n| n == Some(name.as_str()))
                            .ok_or_else(|| format!("No group with name {{{name}}}"))?
                    }
                    Some(d) if d.is_ascii_digit() => {
                        // The first digit is always a group; further digits are taken
                        // while the number stays a group the pattern has.
                        let mut group = digit_value(d);
                        while let Some(&next) = chars.peek() {
                            if !next.is_ascii_digit() {
                                break;
                            }
                            let longer = group.saturating_mul(10).saturating_add(digit_value(next));
                            if longer > group_count {
                                break;
                            }
                            group = longer;
                            chars.next();
                        }
                        if group > group_count {
                            return Err(format!("No group {group}"));
                        }
                        group
                    }
                    Some(_) => return Err("Illegal group reference".to_owned()),
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Group(group));
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

fn digit_value(c: char) -> usize {
    c.to_digit(10).map_or(0, |d| d as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mapper(rules: &str) -> SslPrincipalMapper {
        SslPrincipalMapper::from_rules(rules)
            .unwrap_or_else(|e| panic!("rules {rules:?} should parse: {e}"))
    }

    fn name(rules: &str, dn: &str) -> String {
        mapper(rules).get_name(dn).unwrap()
    }

    #[test]
    fn principal_displays_as_type_colon_name() {
        assert_eq!(KafkaPrincipal::user("alice").to_string(), "User:alice");
        assert_eq!(KafkaPrincipal::new("Group", "eng").to_string(), "Group:eng");
    }

    #[test]
    fn principal_parses_at_the_first_colon() {
        assert_eq!("User:alice".parse(), Ok(KafkaPrincipal::user("alice")));
        assert_eq!("User:a:b".parse(), Ok(KafkaPrincipal::user("a:b")));
        assert_eq!("User:".parse(), Ok(KafkaPrincipal::user("")));
        assert_eq!(":".parse(), Ok(KafkaPrincipal::new("", "")));
        assert_eq!(
            "User:*".parse::<KafkaPrincipal>().map(|p| p.name),
            Ok("*".to_owned())
        );
    }

    #[test]
    fn principal_without_colon_is_refused_with_kafkas_message() {
        for input in ["", "bob", "User"] {
            let err = input.parse::<KafkaPrincipal>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("expected a string in format principalType:principalName but got {input}")
            );
        }
    }

    #[test]
    fn anonymous_is_user_anonymous() {
        let anonymous = KafkaPrincipal::anonymous();
        assert_eq!(anonymous.to_string(), "User:ANONYMOUS");
        assert!(anonymous.is_anonymous());
        assert!(!KafkaPrincipal::user("alice").is_anonymous());
        assert!(!KafkaPrincipal::new("Group", "ANONYMOUS").is_anonymous());
    }

    #[test]
    fn principal_serializes_as_its_string() {
        let principal = KafkaPrincipal::user("alice");
        let json = serde_json::to_string(&principal).unwrap();
        assert_eq!(json, "\"User:alice\"");
        assert_eq!(
            serde_json::from_str::<KafkaPrincipal>(&json).unwrap(),
            principal
        );
        assert!(serde_json::from_str::<KafkaPrincipal>("\"alice\"").is_err());
    }

    // SslPrincipalMapperTest.testValidRules
    #[test]
    fn kafkas_valid_rules_parse() {
        for rules in [
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
        ] {
            mapper(rules);
        }
    }

    // SslPrincipalMapperTest.testInvalidRules
    #[test]
    fn kafkas_invalid_rules_are_refused() {
        for rules in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            assert!(
                SslPrincipalMapper::from_rules(rules).is_err(),
                "{rules:?} should be refused"
            );
        }
    }

    #[test]
    fn invalid_rule_errors_carry_kafkas_messages() {
        let err = SslPrincipalMapper::from_rules("DEFAULT/L").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid rule: `DEFAULT/L`, unmatched substring: `/L`"
        );
        let err = SslPrincipalMapper::from_rules("default").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid rule: `default`, unmatched substring: `default`"
        );
    }

    // SslPrincipalMapperTest.testSslPrincipalMapper
    #[test]
    fn kafkas_mapping_examples() {
        let rules = [
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
            "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
            "DEFAULT",
        ]
        .join(", ");
        let mapper = mapper(&rules);
        let get = |dn| mapper.get_name(dn).unwrap();
        assert_eq!(get("CN=Duke,OU=ServiceUsers,O=Org,C=US"), "duke");
        assert_eq!(get("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"), "duke@sme");
        assert_eq!(get("cn=duke,ou=sme,dc=mycp,dc=com"), "DUKE@SME");
        assert_eq!(get("cN=duke,OU=JavaSoft,O=Sun Microsystems"), "DUKE");
        assert_eq!(
            get("OU=JavaSoft,O=Sun Microsystems,C=US"),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    // SslPrincipalMapperTest.testRulesSplitting
    #[test]
    fn rules_split_as_kafka_splits_them() {
        let cases = [
            ("[]", ""),
            ("[DEFAULT]", "DEFAULT"),
            ("[RULE:/]", "RULE://"),
            ("[RULE:/.*]", "RULE:/.*/"),
            ("[RULE:/.*/L]", "RULE:/.*/L"),
            ("[RULE:/, DEFAULT]", "RULE://,DEFAULT"),
            ("[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  "),
            (
                "[RULE:   /     , DEFAULT]",
                "  RULE:   /     / ,  DEFAULT  ",
            ),
            (
                "[RULE:  /     /U, DEFAULT]",
                "  RULE:  /     /U   ,DEFAULT  ",
            ),
            (
                "[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]",
                "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ",
            ),
            // Empty rules are ignored.
            ("[]", ",   , , ,      , , ,   "),
            ("[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,"),
            (
                "[RULE: /   , DEFAULT]",
                ",  , RULE: /   /    ,,,   DEFAULT, ,   ",
            ),
            (
                "[RULE:   /  /U, DEFAULT]",
                "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,",
            ),
            // Escape sequences.
            (r"[RULE:\/\\\(\)\n\t/\/\/]", r"RULE:\/\\\(\)\n\t/\/\//"),
            (
                r"[RULE:\**\/+/*/L, RULE:\/*\**/**]",
                r"RULE:\**\/+/*/L,RULE:\/*\**/**/",
            ),
            // Rules that look like rules.
            (
                r"[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]",
                r"RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT",
            ),
        ];
        for (expected, rules) in cases {
            assert_eq!(
                mapper(rules).to_string(),
                format!("SslPrincipalMapper(rules = {expected})"),
                "rules {rules:?}"
            );
        }
    }

    // SslPrincipalMapperTest.testCommaWithWhitespace
    #[test]
    fn escaped_comma_in_a_common_name_is_kept() {
        assert_eq!(
            name(
                r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT",
                r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz"
            ),
            r"Tkac\, Adam"
        );
    }

    #[test]
    fn default_rule_returns_the_whole_distinguished_name() {
        let dn = "CN=alice,OU=eng,O=Example,C=US";
        assert_eq!(SslPrincipalMapper::default().get_name(dn).unwrap(), dn);
        assert_eq!(name(SslPrincipalMapper::DEFAULT_RULES, dn), dn);
        assert_eq!(
            SslPrincipalMapper::default().to_string(),
            "SslPrincipalMapper(rules = [DEFAULT])"
        );
    }

    #[test]
    fn first_applicable_rule_wins() {
        let rules = "RULE:^CN=([a-z]+),OU=eng.*$/$1/, RULE:^CN=([^,]+),.*$/other-$1/, DEFAULT";
        assert_eq!(name(rules, "CN=alice,OU=eng,O=Example"), "alice");
        assert_eq!(name(rules, "CN=Bob,OU=ops,O=Example"), "other-Bob");
        assert_eq!(name(rules, "O=Example"), "O=Example");
    }

    #[test]
    fn rule_applies_only_when_the_pattern_matches_the_whole_name() {
        // `CN=[a-z]+` is found in the name but does not match all of it.
        let mapper = mapper("RULE:CN=([a-z]+)/$1/");
        assert!(mapper.get_name("CN=alice,OU=eng").is_err());
        assert_eq!(mapper.get_name("CN=alice").unwrap(), "alice");
    }

    #[test]
    fn no_matching_rule_is_an_error_with_kafkas_message() {
        let err = mapper("RULE:^CN=(.*),OU=eng$/$1/L")
            .get_name("CN=bob,OU=ops")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "No rules apply to CN=bob,OU=ops, rules [RULE:^CN=(.*),OU=eng$/$1/L]"
        );
    }

    #[test]
    fn empty_rules_map_nothing() {
        let mapper = mapper("");
        assert!(mapper.get_name("CN=alice").is_err());
        assert_eq!(mapper.to_string(), "SslPrincipalMapper(rules = [])");
    }

    #[test]
    fn case_flags_lower_and_upper_the_result() {
        assert_eq!(name("RULE:^CN=([^,]+).*$/$1/L", "CN=Alice,O=X"), "alice");
        assert_eq!(name("RULE:^CN=([^,]+).*$/$1/U", "CN=Alice,O=X"), "ALICE");
        assert_eq!(name("RULE:^CN=([^,]+).*$/$1/", "CN=Alice,O=X"), "Alice");
    }

    #[test]
    fn replace_all_replaces_the_empty_match_at_the_end_as_java_does() {
        // Java: "abc".replaceAll(".*", "x") == "xx".
        assert_eq!(name("RULE:.*/x/", "abc"), "xx");
        assert_eq!(name("RULE:^.*$/x/", "abc"), "x");
    }

    #[test]
    fn replace_all_replaces_every_match_in_the_name() {
        // The pattern matches the whole name, and replaceAll then rewrites every
        // match it finds, not only the first.
        assert_eq!(name("RULE:[a-z]*/-/", "abc"), "--");
        assert_eq!(name("RULE:(a|b)+/$1/", "abab"), "b");
    }

    #[test]
    fn back_references_to_missing_groups_stay_literal() {
        let dn = "CN=alice,OU=eng";
        // One group: `$2` is text, `$12` is group 1 then "2", `$0` the whole match.
        assert_eq!(name("RULE:^CN=([^,]+),.*$/$1-$2/", dn), "alice-$2");
        assert_eq!(name("RULE:^CN=([^,]+),.*$/$12/", dn), "alice2");
        assert_eq!(name("RULE:^CN=([^,]+),.*$/[$0]/", dn), "[CN=alice,OU=eng]");
        // Two groups: `$12` is group 1 then "2".
        assert_eq!(name("RULE:^CN=([^,]+),OU=(.*)$/$12/", dn), "alice2");
    }

    #[test]
    fn second_missing_back_reference_is_escaped_one_place_early_as_in_kafka() {
        // Kafka inserts the second escape at the original position in the already
        // rewritten string: `$5$6` becomes `\$\5$6`, and Java then fails on `$6`.
        let err = SslPrincipalMapper::from_rules("RULE:^(a)$/$5$6/").unwrap_err();
        assert!(err.to_string().contains("No group 6"), "{err}");
    }

    #[test]
    fn named_groups_and_escapes_in_replacements() {
        assert_eq!(
            name(r"RULE:^CN=(?<cn>[^,]+),.*$/${cn}\$/", "CN=alice,O=X"),
            "alice$"
        );
        assert_eq!(
            name(r"RULE:^CN=([^,]+),.*$/\\$1/", "CN=alice,O=X"),
            r"\alice"
        );
    }

    #[test]
    fn replacements_java_would_reject_are_refused_at_config_time() {
        for (rules, reason) in [
            ("RULE:^.*$/$1/", "No group 1"),
            ("RULE:^(.*)$/x$/", "group index is missing"),
            ("RULE:^(.*)$/$x/", "Illegal group reference"),
            ("RULE:^(.*)$/${}/", "0 length name"),
            ("RULE:^(.*)$/${name/", "missing trailing '}'"),
            ("RULE:^(.*)$/${1a}/", "starts with digit"),
            ("RULE:^(.*)$/${nope}/", "No group with name {nope}"),
            ("RULE:^(.*)$/$99999999999/", "For input string"),
        ] {
            let err = SslPrincipalMapper::from_rules(rules).unwrap_err();
            assert!(
                matches!(err, MappingRuleError::InvalidReplacement { .. }),
                "{rules:?}: {err:?}"
            );
            assert!(err.to_string().contains(reason), "{rules:?}: {err}");
        }
    }

    #[test]
    fn trailing_backslash_in_a_replacement_is_javas_error() {
        // The rule grammar pairs every `\` with the next character, so a replacement
        // from a rule never ends in a lone one; the parser still refuses it as Java does.
        let re = Regex::new("(a)").unwrap();
        assert_eq!(
            parse_replacement("x\\", &re),
            Err("character to be escaped is missing".to_owned())
        );
        assert_eq!(
            parse_replacement("x\\\\$1", &re),
            Ok(vec![Piece::Literal("x\\".to_owned()), Piece::Group(1)])
        );
    }

    #[test]
    fn patterns_the_regex_engine_refuses_are_refused_at_config_time() {
        for rules in ["RULE:(?=CN)CN=(.*)/$1/", "RULE:(a)\\1/x/", "RULE:(/x/"] {
            let err = SslPrincipalMapper::from_rules(rules).unwrap_err();
            assert!(
                matches!(err, MappingRuleError::InvalidPattern { .. }),
                "{rules:?}: {err:?}"
            );
        }
    }

    #[test]
    fn principal_of_a_peer_without_certificate_is_anonymous() {
        let mapper = mapper("RULE:^CN=([^,]+),.*$/$1/");
        assert_eq!(mapper.principal(None).unwrap(), KafkaPrincipal::anonymous());
        assert_eq!(
            mapper.principal(Some("CN=alice,O=X")).unwrap(),
            KafkaPrincipal::user("alice")
        );
        assert!(mapper.principal(Some("O=X")).is_err());
    }

    proptest! {
        #[test]
        fn parsing_and_mapping_arbitrary_input_never_panics(
            rules in "[ ,/\\\\$LUDEFAULTRULE:()a.*1{}\n]{0,40}",
            dn in "[a-zA-Z=,.\\\\ ]{0,30}",
        ) {
            if let Ok(mapper) = SslPrincipalMapper::from_rules(&rules) {
                let _ = mapper.get_name(&dn);
                let _ = mapper.to_string();
            }
        }

        #[test]
        fn principal_string_round_trips(t in "[A-Za-z]{0,8}", n in "[A-Za-z:*]{0,8}") {
            let principal = KafkaPrincipal::new(t, n);
            prop_assert_eq!(principal.to_string().parse::<KafkaPrincipal>(), Ok(principal));
        }
    }
}
