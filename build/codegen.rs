//! Turns parsed schemas into Rust: one module per message with its structs, and the
//! `ApiKey`, `Request` and `Response` items over every served API.

use crate::schema::{Field, Schema, Versions};
use heck::ToSnakeCase;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeMap;

/// One API: its request and response schemas.
pub struct Api<'a> {
    pub key: i16,
    pub name: String,
    pub request: &'a Schema,
    pub response: &'a Schema,
}

pub fn rust_ident(name: &str) -> Ident {
    let snake = name.to_snake_case();
    match snake.as_str() {
        "type" | "match" | "ref" | "self" | "super" | "crate" | "mod" | "fn" | "struct"
        | "enum" | "impl" | "trait" | "use" | "where" | "loop" | "move" | "static" | "const"
        | "async" | "await" | "dyn" | "box" => Ident::new_raw(&snake, Span::call_site()),
        _ => Ident::new(&snake, Span::call_site()),
    }
}

fn is_nullable(f: &Field) -> bool {
    f.nullable_versions.is_some_and(|v| v.range.is_some())
}

/// The Rust type of a field.
fn rust_type(f: &Field) -> TokenStream {
    let elem = match f.element_type() {
        "bool" => quote!(bool),
        "int8" => quote!(i8),
        "int16" => quote!(i16),
        "int32" => quote!(i32),
        "int64" => quote!(i64),
        "uint16" => quote!(u16),
        "uint32" => quote!(u32),
        "float64" => quote!(f64),
        "string" => quote!(String),
        "bytes" | "records" => quote!(Bytes),
        "uuid" => quote!(Uuid),
        other => {
            let id = format_ident!("{}", other);
            quote!(#id)
        }
    };
    if f.is_array() {
        if is_nullable(f) {
            quote!(Option<Vec<#elem>>)
        } else {
            quote!(Vec<#elem>)
        }
    } else if f.ty == "records" || is_nullable(f) {
        quote!(Option<#elem>)
    } else {
        elem
    }
}

fn parse_int(s: &str) -> Result<i128, String> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16),
        None => body.parse::<i128>(),
    }
    .map_err(|e| format!("bad integer default {s:?}: {e}"))?;
    Ok(if neg { -v } else { v })
}

/// The schema default as a Rust expression, or `None` when the type's own `Default`
/// is Kafka's default. Kafka's rules: an explicit `"null"` is null; otherwise a nullable
/// field defaults to its non-null empty value; records default to null.
fn default_expr(f: &Field, ctx: &str) -> Result<Option<String>, String> {
    let d = f.default.as_deref();
    let nullable = is_nullable(f);
    let wrap = |e: String| if nullable { format!("Some({e})") } else { e };
    if d == Some("null") {
        if !nullable {
            return Err(format!(
                "{ctx}.{}: default null on a non-nullable field",
                f.name
            ));
        }
        return Ok(Some("None".into()));
    }
    if f.is_array() || f.is_struct() {
        if d.is_some_and(|d| !d.is_empty()) {
            return Err(format!("{ctx}.{}: unsupported default {d:?}", f.name));
        }
        return Ok(nullable.then(|| wrap("Default::default()".into())));
    }
    let e = match (f.ty.as_str(), d) {
        ("records", _) => return Ok(Some("None".into())),
        ("string", Some(s)) if !s.is_empty() => wrap(format!("String::from({s:?})")),
        ("bool", Some(b)) => {
            let b = b.to_ascii_lowercase();
            if b != "true" && b != "false" {
                return Err(format!("{ctx}.{}: bad bool default {b:?}", f.name));
            }
            wrap(b)
        }
        ("int8" | "int16" | "int32" | "int64" | "uint16" | "uint32", Some(s)) => {
            wrap(parse_int(s)?.to_string())
        }
        ("float64", Some(s)) => {
            let v: f64 = s.parse().map_err(|e| format!("{ctx}.{}: {e}", f.name))?;
            wrap(format!("{v:?}"))
        }
        (_, Some(s)) if !s.is_empty() => {
            return Err(format!("{ctx}.{}: unsupported default {s:?}", f.name))
        }
        _ => return Ok(nullable.then(|| wrap("Default::default()".into()))),
    };
    Ok(Some(e))
}

fn field_tokens(f: &Field, ctx: &str) -> Result<TokenStream, String> {
    let ident = rust_ident(&f.name);
    let ty = rust_type(f);
    let name = &f.name;
    let versions = f.versions.to_attr();
    let mut attrs = vec![quote!(name = #name), quote!(versions = #versions)];
    if let Some(n) = f.nullable_versions.filter(|v| v.range.is_some()) {
        let n = n.to_attr();
        attrs.push(quote!(nullable = #n));
    }
    if let Some(t) = f.tagged_versions {
        let tag = f
            .tag
            .ok_or_else(|| format!("{ctx}.{}: taggedVersions without tag", f.name))?;
        let t = t.to_attr();
        let tag = proc_macro2::Literal::u32_unsuffixed(tag);
        attrs.push(quote!(tagged = #t, tag = #tag));
    }
    if f.ignorable {
        attrs.push(quote!(ignorable));
    }
    if let Some(fl) = f.flexible_versions {
        let fl = fl.to_attr();
        attrs.push(quote!(flexible = #fl));
    }
    if let Some(d) = default_expr(f, ctx)? {
        attrs.push(quote!(default = #d));
    }
    Ok(quote! {
        #[kafka(#(#attrs),*)]
        pub #ident: #ty,
    })
}

/// Collects every struct of a schema: the message itself, inline structs and
/// commonStructs, in a stable order.
fn collect_structs<'a>(
    name: &'a str,
    fields: &'a [Field],
    out: &mut BTreeMap<&'a str, &'a [Field]>,
    order: &mut Vec<&'a str>,
) -> Result<(), String> {
    if let Some(prev) = out.get(name) {
        if *prev != fields {
            return Err(format!(
                "struct {name} is defined twice with different fields"
            ));
        }
        return Ok(());
    }
    out.insert(name, fields);
    order.push(name);
    for f in fields {
        if !f.fields.is_empty() {
            collect_structs(f.element_type(), &f.fields, out, order)?;
        }
    }
    Ok(())
}

fn gen_struct(
    name: &str,
    fields: &[Field],
    top: Option<Versions>,
    flexible: Versions,
) -> Result<TokenStream, String> {
    let ident = format_ident!("{}", name);
    let flexible = flexible.to_attr();
    let mut attrs = vec![quote!(flexible = #flexible)];
    if let Some(v) = top {
        let v = v.to_attr();
        attrs.push(quote!(versions = #v));
    }
    let mut fields = fields
        .iter()
        .map(|f| field_tokens(f, name))
        .collect::<Result<Vec<_>, _>>()?;
    if flexible != "none" {
        fields.push(quote! {
            /// Tagged fields this version does not know, kept so they are written back.
            #[kafka(unknown_tagged)]
            pub unknown_tagged_fields: Vec<RawTaggedField>,
        });
    }
    Ok(quote! {
        #[derive(Debug, Clone, PartialEq, Encode, Decode)]
        #[kafka(#(#attrs),*)]
        pub struct #ident {
            #(#fields)*
        }
    })
}

/// One module per message: `produce_request::{ProduceRequest, TopicProduceData, ...}`.
pub fn gen_schema(s: &Schema, file: &str) -> Result<TokenStream, String> {
    let mut map = BTreeMap::new();
    let mut order = Vec::new();
    collect_structs(&s.name, &s.fields, &mut map, &mut order)?;
    for cs in &s.common_structs {
        collect_structs(&cs.name, &cs.fields, &mut map, &mut order)?;
    }
    let mut structs = Vec::new();
    for (i, name) in order.iter().enumerate() {
        let top = (i == 0).then_some(s.valid_versions);
        structs.push(gen_struct(name, map[name], top, s.flexible_versions)?);
    }
    // Every referenced struct type must be defined in this schema.
    fn check(fields: &[Field], map: &BTreeMap<&str, &[Field]>, ctx: &str) -> Result<(), String> {
        for f in fields {
            if f.is_struct() && !map.contains_key(f.element_type()) {
                return Err(format!("{ctx}.{}: unknown type {}", f.name, f.ty));
            }
            check(&f.fields, map, ctx)?;
        }
        Ok(())
    }
    check(&s.fields, &map, &s.name)?;
    let module = rust_ident(&s.name);
    let top = format_ident!("{}", s.name);
    let doc = format!(
        " Kafka's `{}`{}: versions {}, flexible {}. Generated from `protocol-json/{file}`.",
        s.name,
        s.api_key
            .map(|k| format!(" (API key {k})"))
            .unwrap_or_default(),
        s.valid_versions.to_attr(),
        s.flexible_versions.to_attr(),
    );
    Ok(quote! {
        #[doc = #doc]
        pub mod #module {
            use super::*;
            #(#structs)*
        }
        pub use #module::#top;
    })
}

/// `ApiKey`, `Request` and `Response` over every API with a request and a response schema.
pub fn gen_apis(apis: &[Api<'_>]) -> Result<TokenStream, String> {
    let mut variants = Vec::new();
    let mut from_code = Vec::new();
    let mut names = Vec::new();
    let mut versions = Vec::new();
    let mut flexible = Vec::new();
    let mut req_variants = Vec::new();
    let mut resp_variants = Vec::new();
    let mut req_key = Vec::new();
    let mut resp_key = Vec::new();
    let mut req_decode = Vec::new();
    let mut resp_decode = Vec::new();
    let mut req_encode = Vec::new();
    let mut resp_encode = Vec::new();
    let mut req_size = Vec::new();
    let mut resp_size = Vec::new();
    let mut froms = Vec::new();
    let mut req_default = Vec::new();
    let mut req_sample = Vec::new();
    let mut resp_sample = Vec::new();
    let mut req_json = Vec::new();
    let mut resp_json = Vec::new();
    for api in apis {
        let v = format_ident!("{}", api.name);
        let key = api.key;
        let name = &api.name;
        let req = format_ident!("{}", api.request.name);
        let resp = format_ident!("{}", api.response.name);
        if api.request.flexible_versions != api.response.flexible_versions {
            return Err(format!(
                "{name}: request and response disagree on flexibleVersions"
            ));
        }
        let (lo, hi) = api
            .request
            .valid_versions
            .range
            .ok_or_else(|| format!("{name}: removed API has no versions to serve"))?;
        if api.request.valid_versions != api.response.valid_versions {
            return Err(format!(
                "{name}: request and response disagree on validVersions"
            ));
        }
        // A version the schema marks unstable is not served.
        let hi = if api.request.latest_version_unstable || api.response.latest_version_unstable {
            hi - 1
        } else {
            hi
        };
        let flex = match api.request.flexible_versions.min() {
            Some(m) => quote!(Some(#m)),
            None => quote!(None),
        };
        variants.push(quote!(#v = #key,));
        from_code.push(quote!(#key => Some(ApiKey::#v),));
        names.push(quote!(ApiKey::#v => #name,));
        versions.push(quote!(ApiKey::#v => VersionRange::new(#lo, #hi),));
        flexible.push(quote!(ApiKey::#v => #flex,));
        req_variants.push(quote!(#v(#req),));
        resp_variants.push(quote!(#v(#resp),));
        req_key.push(quote!(Request::#v(_) => ApiKey::#v,));
        resp_key.push(quote!(Response::#v(_) => ApiKey::#v,));
        req_decode.push(quote!(ApiKey::#v => #req::decode(buf, version).map(Request::#v),));
        resp_decode.push(quote!(ApiKey::#v => #resp::decode(buf, version).map(Response::#v),));
        req_encode.push(quote!(Request::#v(m) => m.encode(w, version),));
        resp_encode.push(quote!(Response::#v(m) => m.encode(w, version),));
        req_size.push(quote!(Request::#v(m) => m.encoded_size(version),));
        resp_size.push(quote!(Response::#v(m) => m.encoded_size(version),));
        req_default.push(quote!(ApiKey::#v => Request::#v(#req::default()),));
        req_sample.push(quote!(ApiKey::#v => Request::#v(SampleField::sample(g, ctx)),));
        resp_sample.push(quote!(ApiKey::#v => Response::#v(SampleField::sample(g, ctx)),));
        req_json.push(quote!(Request::#v(m) => JsonField::to_json(m, version),));
        resp_json.push(quote!(Response::#v(m) => JsonField::to_json(m, version),));
        froms.push(quote! {
            impl From<#req> for Request {
                fn from(m: #req) -> Self { Request::#v(m) }
            }
            impl From<#resp> for Response {
                fn from(m: #resp) -> Self { Response::#v(m) }
            }
        });
    }
    let all: Vec<TokenStream> = apis
        .iter()
        .map(|a| {
            let v = format_ident!("{}", a.name);
            quote!(ApiKey::#v,)
        })
        .collect();
    let count = apis.len();
    Ok(quote! {
        /// Every API Aeon serves, by its Kafka API key.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(i16)]
        pub enum ApiKey {
            #(#variants)*
        }

        impl ApiKey {
            /// Every served API, in API key order.
            pub const ALL: [ApiKey; #count] = [#(#all)*];

            /// The API with this key, if Aeon serves it.
            pub fn from_code(code: i16) -> Option<ApiKey> {
                match code {
                    #(#from_code)*
                    _ => None,
                }
            }

            /// Kafka's API key.
            pub fn code(self) -> i16 {
                self as i16
            }

            /// Kafka's name of the API (`Produce`, `Fetch`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    #(#names)*
                }
            }

            /// The versions Aeon decodes and answers: the schema's `validVersions`, less a
            /// latest version that the schema marks unstable.
            pub fn versions(self) -> VersionRange {
                match self {
                    #(#versions)*
                }
            }

            /// The first flexible version (KIP-482), if any.
            pub fn first_flexible_version(self) -> Option<i16> {
                match self {
                    #(#flexible)*
                }
            }
        }

        /// A request body of any served API.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            #(#req_variants)*
        }

        /// A response body of any served API.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Response {
            #(#resp_variants)*
        }

        impl Request {
            /// The request of `api_key` with every field at its schema default.
            pub fn default_for(api_key: ApiKey) -> Self {
                match api_key {
                    #(#req_default)*
                }
            }

            pub fn api_key(&self) -> ApiKey {
                match self {
                    #(#req_key)*
                }
            }

            /// Decodes the body of `api_key` at `version`.
            pub fn decode(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Self, DecodeError> {
                match api_key {
                    #(#req_decode)*
                }
            }

            pub fn encode<W: WireWrite + ?Sized>(&self, w: &mut W, version: i16) -> Result<(), EncodeError> {
                match self {
                    #(#req_encode)*
                }
            }

            pub fn encoded_size(&self, version: i16) -> usize {
                match self {
                    #(#req_size)*
                }
            }
        }

        impl Response {
            pub fn api_key(&self) -> ApiKey {
                match self {
                    #(#resp_key)*
                }
            }

            /// Decodes the body of `api_key` at `version`.
            pub fn decode(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Self, DecodeError> {
                match api_key {
                    #(#resp_decode)*
                }
            }

            pub fn encode<W: WireWrite + ?Sized>(&self, w: &mut W, version: i16) -> Result<(), EncodeError> {
                match self {
                    #(#resp_encode)*
                }
            }

            pub fn encoded_size(&self, version: i16) -> usize {
                match self {
                    #(#resp_size)*
                }
            }
        }

        #(#froms)*

        #[cfg(test)]
        mod test_support {
            use super::*;
            use crate::protocol::codec::FieldCtx;
            use crate::protocol::testing::{Gen, JsonField, SampleField};

            impl Request {
                /// A random request of `api_key`, valid at `version`.
                pub fn sample(api_key: ApiKey, version: i16, g: &mut Gen) -> Self {
                    let ctx = FieldCtx { version, compact: false, nullable: false };
                    match api_key {
                        #(#req_sample)*
                    }
                }

                /// Kafka's JSON view of the body.
                pub fn to_json(&self, version: i16) -> serde_json::Value {
                    match self {
                        #(#req_json)*
                    }
                }
            }

            impl Response {
                /// A random response of `api_key`, valid at `version`.
                pub fn sample(api_key: ApiKey, version: i16, g: &mut Gen) -> Self {
                    let ctx = FieldCtx { version, compact: false, nullable: false };
                    match api_key {
                        #(#resp_sample)*
                    }
                }

                /// Kafka's JSON view of the body.
                pub fn to_json(&self, version: i16) -> serde_json::Value {
                    match self {
                        #(#resp_json)*
                    }
                }
            }
        }
    })
}
