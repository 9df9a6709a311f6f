//! Reading the `#[kafka(...)]` attributes that `build.rs` writes from the schemas.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, Expr, LitInt, LitStr};

/// A version range in the schema syntax: `"3-13"`, `"9+"`, `"5"`, `"none"`.
#[derive(Clone, Copy, Debug)]
pub struct Range(pub Option<(i16, Option<i16>)>);

impl Range {
    pub fn parse(lit: &LitStr) -> syn::Result<Self> {
        let s = lit.value();
        let bad = || syn::Error::new(lit.span(), format!("bad version range {s:?}"));
        let num = |t: &str| t.trim().parse::<i16>().map_err(|_| bad());
        let r = if s == "none" {
            None
        } else if let Some(lo) = s.strip_suffix('+') {
            Some((num(lo)?, None))
        } else if let Some((lo, hi)) = s.split_once('-') {
            Some((num(lo)?, Some(num(hi)?)))
        } else {
            let v = num(&s)?;
            Some((v, Some(v)))
        };
        Ok(Range(r))
    }

    /// A boolean expression over the local `version`.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    pub fn cond(&self) -> TokenStream {
        match self.0 {
            None => quote!(false),
            Some((0, None)) => quote!(true),
            Some((lo, None)) => quote!((version >= #lo)),
            Some((lo, Some(hi))) if lo == hi => quote!((version == #lo)),
            Some((0, Some(hi))) => quote!((version <= #hi)),
            Some((lo, Some(hi))) => quote!((#lo..=#hi).contains(&version)),
        }
    }
}

/// Struct-level facts.
pub struct StructAttrs {
    /// The message's valid versions; only on top-level messages.
    pub versions: Option<Range>,
    pub flexible: Range,
}

/// Field-level facts.
pub struct FieldAttrs {
    pub name: String,
    pub versions: Range,
    pub nullable: Option<Range>,
    pub tagged: Option<(Range, u32)>,
    pub ignorable: bool,
    pub flexible: Option<Range>,
    pub default: Option<Expr>,
    /// The field that keeps tagged fields this version does not know.
    pub unknown_tagged: bool,
}

fn kafka_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("kafka"))
}

pub fn struct_attrs(attrs: &[Attribute], span: proc_macro2::Span) -> syn::Result<StructAttrs> {
    let mut versions = None;
    let mut flexible = None;
    for attr in kafka_attrs(attrs) {
        attr.parse_nested_meta(|m| {
            if m.path.is_ident("versions") {
                versions = Some(Range::parse(&m.value()?.parse()?)?);
            } else if m.path.is_ident("flexible") {
                flexible = Some(Range::parse(&m.value()?.parse()?)?);
            } else {
                return Err(m.error("unknown #[kafka] struct attribute"));
            }
            Ok(())
        })?;
    }
    let flexible = flexible
        .ok_or_else(|| syn::Error::new(span, "#[kafka(flexible = \"...\")] is required"))?;
    Ok(StructAttrs { versions, flexible })
}

pub fn field_attrs(attrs: &[Attribute], span: proc_macro2::Span) -> syn::Result<FieldAttrs> {
    let mut name = None;
    let mut versions = None;
    let mut nullable = None;
    let mut tagged = None;
    let mut tag = None;
    let mut ignorable = false;
    let mut flexible = None;
    let mut default = None;
    let mut unknown_tagged = false;
    for attr in kafka_attrs(attrs) {
        attr.parse_nested_meta(|m| {
            if m.path.is_ident("name") {
                name = Some(m.value()?.parse::<LitStr>()?.value());
            } else if m.path.is_ident("versions") {
                versions = Some(Range::parse(&m.value()?.parse()?)?);
            } else if m.path.is_ident("nullable") {
                nullable = Some(Range::parse(&m.value()?.parse()?)?);
            } else if m.path.is_ident("tagged") {
                tagged = Some(Range::parse(&m.value()?.parse()?)?);
            } else if m.path.is_ident("tag") {
                tag = Some(m.value()?.parse::<LitInt>()?.base10_parse::<u32>()?);
            } else if m.path.is_ident("ignorable") {
                ignorable = true;
            } else if m.path.is_ident("flexible") {
                flexible = Some(Range::parse(&m.value()?.parse()?)?);
            } else if m.path.is_ident("unknown_tagged") {
                unknown_tagged = true;
            } else if m.path.is_ident("default") {
                let lit: LitStr = m.value()?.parse()?;
                default = Some(lit.parse::<Expr>()?);
            } else {
                return Err(m.error("unknown #[kafka] field attribute"));
            }
            Ok(())
        })?;
    }
    if unknown_tagged {
        return Ok(FieldAttrs {
            name: String::new(),
            versions: Range(None),
            nullable: None,
            tagged: None,
            ignorable: true,
            flexible: None,
            default: None,
            unknown_tagged,
        });
    }
    let name = name.ok_or_else(|| syn::Error::new(span, "#[kafka(name = \"...\")] is required"))?;
    let versions = versions
        .ok_or_else(|| syn::Error::new(span, "#[kafka(versions = \"...\")] is required"))?;
    let tagged = match (tagged, tag) {
        (Some(r), Some(t)) => Some((r, t)),
        (None, None) => None,
        _ => return Err(syn::Error::new(span, "`tagged` and `tag` go together")),
    };
    Ok(FieldAttrs {
        name,
        versions,
        nullable,
        tagged,
        ignorable,
        flexible,
        default,
        unknown_tagged,
    })
}
