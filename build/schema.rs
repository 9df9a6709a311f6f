//! Kafka's JSON message schema format: the parser and the model.
//!
//! Shared by `build.rs` (code generation) and the schema tests, so the files the tests
//! check are read exactly as the generator reads them. Kafka's files are JSON with `//`
//! and `/* */` comments; comments are stripped (outside strings) before `serde_json`
//! parses the rest strictly.

use serde::Deserialize;

/// One schema file: a request, a response, a header or a data struct.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Schema {
    pub api_key: Option<i16>,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub listeners: Vec<String>,
    pub valid_versions: Versions,
    #[serde(default = "Versions::none")]
    pub flexible_versions: Versions,
    pub deprecated_versions: Option<Versions>,
    #[serde(default, deserialize_with = "de_bool")]
    pub latest_version_unstable: bool,
    #[serde(default)]
    pub fields: Vec<Field>,
    #[serde(default)]
    pub common_structs: Vec<StructDef>,
}

/// A named struct in `commonStructs`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StructDef {
    pub name: String,
    pub versions: Versions,
    pub fields: Vec<Field>,
}

/// One field. Wire order is the order of `fields`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub versions: Versions,
    pub nullable_versions: Option<Versions>,
    pub tagged_versions: Option<Versions>,
    #[serde(default, deserialize_with = "de_tag")]
    pub tag: Option<u32>,
    #[serde(default, deserialize_with = "de_default")]
    pub default: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub ignorable: bool,
    pub entity_type: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    pub map_key: bool,
    #[serde(default, deserialize_with = "de_bool")]
    pub zero_copy: bool,
    pub flexible_versions: Option<Versions>,
    #[serde(default)]
    pub about: Option<String>,
    #[serde(default)]
    pub fields: Vec<Field>,
}

/// A version range as Kafka writes it: `"3-13"`, `"9+"`, `"5"` or `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// `None` for `"none"`.
    pub range: Option<(i16, i16)>,
}

impl Versions {
    pub fn none() -> Self {
        Versions { range: None }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let num = |t: &str| {
            t.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version {t:?} in {s:?}: {e}"))
        };
        let range = if s == "none" {
            None
        } else if let Some(lo) = s.strip_suffix('+') {
            Some((num(lo)?, i16::MAX))
        } else if let Some((lo, hi)) = s.split_once('-') {
            Some((num(lo)?, num(hi)?))
        } else {
            let v = num(s)?;
            Some((v, v))
        };
        if let Some((lo, hi)) = range {
            if lo < 0 || hi < lo {
                return Err(format!("empty or negative version range {s:?}"));
            }
        }
        Ok(Versions { range })
    }

    #[allow(dead_code)] // used by the schema tests
    pub fn contains(&self, v: i16) -> bool {
        matches!(self.range, Some((lo, hi)) if lo <= v && v <= hi)
    }

    pub fn min(&self) -> Option<i16> {
        self.range.map(|r| r.0)
    }

    #[allow(dead_code)] // used by the schema tests
    /// The highest version, `None` for an open range or `"none"`.
    pub fn max(&self) -> Option<i16> {
        self.range.and_then(|r| (r.1 != i16::MAX).then_some(r.1))
    }

    /// The form the `#[kafka(...)]` attributes use: the same syntax as the schema.
    pub fn to_attr(self) -> String {
        match self.range {
            None => "none".to_string(),
            Some((lo, i16::MAX)) => format!("{lo}+"),
            Some((lo, hi)) if lo == hi => format!("{lo}"),
            Some((lo, hi)) => format!("{lo}-{hi}"),
        }
    }
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Versions::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Kafka writes booleans both as JSON booleans and as strings ("true", "False").
fn de_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

/// Tags are numbers, but some releases wrote one as a string ("0").
fn de_tag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some),
        serde_json::Value::String(s) => s.trim().parse().ok().map(Some),
        _ => None,
    }
    .ok_or_else(|| serde::de::Error::custom("a tag is a non-negative integer"))
}

/// Defaults come as strings (`"-1"`, `"null"`, `"0x7fffffff"`), numbers or booleans;
/// they are kept as the string Kafka's generator would see.
fn de_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "unsupported default {other}"
        ))),
    }
}

/// Removes `//` and `/* */` comments that stand outside string literals.
pub fn strip_comments(src: &str) -> Result<String, String> {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.char_indices().peekable();
    let mut in_string = false;
    while let Some((i, c)) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some((_, e)) = chars.next() {
                    out.push(e);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek().map(|&(_, n)| n)) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut closed = false;
                let mut prev = ' ';
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                    }
                    if prev == '*' && n == '/' {
                        closed = true;
                        break;
                    }
                    prev = n;
                }
                if !closed {
                    return Err(format!("unterminated /* comment at byte {i}"));
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Parses one schema file's text. A key written twice in one object keeps its last
/// value, as Kafka's own (Jackson) reader does; some released files rely on that.
pub fn parse_schema(src: &str) -> Result<Schema, String> {
    let json = strip_comments(src)?;
    let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    Schema::deserialize(value).map_err(|e| e.to_string())
}

/// The primitive types of the schema language.
pub const PRIMITIVES: &[&str] = &[
    "bool", "int8", "int16", "int32", "int64", "uint16", "uint32", "float64", "string", "bytes",
    "uuid", "records",
];

impl Field {
    /// The element type of an array (`[]T` -> `T`), or the type itself.
    pub fn element_type(&self) -> &str {
        self.ty.strip_prefix("[]").unwrap_or(&self.ty)
    }

    pub fn is_array(&self) -> bool {
        self.ty.starts_with("[]")
    }

    /// True when the field's (element) type is a struct rather than a primitive.
    pub fn is_struct(&self) -> bool {
        !PRIMITIVES.contains(&self.element_type())
    }
}
