//! The code each derive writes. Every generated path is absolute
//! (`crate::protocol::codec::...`): the derives are used inside the `aeon` crate only.

use crate::attrs::{field_attrs, struct_attrs, FieldAttrs, StructAttrs};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, Ident, Type};

struct Field {
    ident: Ident,
    ty: Type,
    attrs: FieldAttrs,
}

impl Field {
    fn default_expr(&self) -> TokenStream {
        match &self.attrs.default {
            Some(e) => quote!(#e),
            None => quote!(::core::default::Default::default()),
        }
    }

    /// On the wire as a regular field at `version`.
    fn regular_cond(&self) -> TokenStream {
        let v = self.attrs.versions.cond();
        match &self.attrs.tagged {
            Some((t, _)) => {
                let t = t.cond();
                quote!((#v && !#t))
            }
            None => v,
        }
    }

    /// In the tagged-field section at `version` (when not default).
    fn tagged_cond(&self, flexible: &TokenStream) -> Option<TokenStream> {
        let v = self.attrs.versions.cond();
        self.attrs.tagged.as_ref().map(|(t, _)| {
            let t = t.cond();
            quote!((#v && #t && #flexible))
        })
    }

    fn ctx(&self, flexible: &TokenStream, tagged: bool) -> TokenStream {
        let compact = match (&self.attrs.flexible, tagged) {
            (_, true) => quote!(true),
            (Some(f), false) => f.cond(),
            (None, false) => flexible.clone(),
        };
        let nullable = match &self.attrs.nullable {
            Some(n) => n.cond(),
            None => quote!(false),
        };
        quote!(crate::protocol::codec::FieldCtx { version, compact: #compact, nullable: #nullable })
    }
}

struct Input {
    ident: Ident,
    attrs: StructAttrs,
    fields: Vec<Field>,
    /// The field keeping unknown tagged fields; every struct of a flexible message has one.
    unknown: Option<Ident>,
}

fn parse(input: &DeriveInput) -> syn::Result<Input> {
    let attrs = struct_attrs(&input.attrs, input.ident.span())?;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "only structs can be Kafka messages",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new(
            input.ident.span(),
            "Kafka messages have named fields",
        ));
    };
    let mut fields = Vec::new();
    let mut unknown = None;
    for f in &named.named {
        let ident = f
            .ident
            .clone()
            .ok_or_else(|| syn::Error::new(input.ident.span(), "unnamed field"))?;
        let attrs = field_attrs(&f.attrs, ident.span())?;
        if attrs.unknown_tagged {
            unknown = Some(ident);
        } else {
            fields.push(Field {
                ident,
                ty: f.ty.clone(),
                attrs,
            });
        }
    }
    if !attrs.flexible.is_none() && unknown.is_none() {
        return Err(syn::Error::new(
            input.ident.span(),
            "a struct with flexible versions needs a #[kafka(unknown_tagged)] field",
        ));
    }
    Ok(Input {
        ident: input.ident.clone(),
        attrs,
        fields,
        unknown,
    })
}

/// A top-level message refuses versions outside its `versions` with `error`'s
/// `UnsupportedVersion`.
fn version_check(inp: &Input, error: TokenStream) -> Option<TokenStream> {
    let name = inp.ident.to_string();
    inp.attrs.versions.map(|v| {
        let c = v.cond();
        quote! {
            if !#c {
                return Err(#error::UnsupportedVersion { message: #name, version });
            }
        }
    })
}

/// The tagged fields in tag order, which is also their wire order.
fn tagged(fields: &[Field]) -> Vec<&Field> {
    let mut t: Vec<&Field> = fields.iter().filter(|f| f.attrs.tagged.is_some()).collect();
    t.sort_by_key(|f| f.attrs.tagged.as_ref().map(|(_, tag)| *tag));
    t
}

pub fn encode(input: &DeriveInput) -> syn::Result<TokenStream> {
    let inp = parse(input)?;
    let ident = &inp.ident;
    let name = ident.to_string();
    let flexible = inp.attrs.flexible.cond();
    let codec = quote!(crate::protocol::codec);

    let version_check = version_check(&inp, quote!(#codec::EncodeError));

    let mut writes = Vec::new();
    let mut sizes = Vec::new();
    let mut defaults = Vec::new();
    if let Some(u) = &inp.unknown {
        defaults.push(quote!(#u: ::std::vec::Vec::new(),));
    }
    for f in &inp.fields {
        let id = &f.ident;
        let fname = &f.attrs.name;
        let def = f.default_expr();
        defaults.push(quote!(#id: #def,));
        let reg = f.regular_cond();
        let vcond = f.attrs.versions.cond();
        let ctx = f.ctx(&flexible, false);
        let absent_check = if f.attrs.ignorable {
            quote!()
        } else {
            quote! {
                else if !#vcond && #codec::differs(&self.#id, &#def) {
                    return Err(#codec::EncodeError::FieldNotInVersion { message: #name, field: #fname, version });
                }
            }
        };
        writes.push(quote! {
            if #reg {
                #codec::WireField::write(&self.#id, w, #ctx)?;
            } #absent_check
        });
        sizes.push(quote! {
            if #reg {
                size += #codec::WireField::wire_size(&self.#id, #ctx);
            }
        });
    }

    let tagged_section = encode_tagged(&inp, &flexible);
    let tagged_size = size_tagged(&inp, &flexible);

    let sample = sample_impl(&inp);
    let json = json_impl(&inp);

    Ok(quote! {
        impl ::core::default::Default for #ident {
            fn default() -> Self {
                Self { #(#defaults)* }
            }
        }

        impl #codec::Encode for #ident {
            fn encode<W: #codec::WireWrite + ?Sized>(&self, w: &mut W, version: i16) -> Result<(), #codec::EncodeError> {
                #version_check
                #(#writes)*
                #tagged_section
                Ok(())
            }

            fn encoded_size(&self, version: i16) -> usize {
                let mut size = 0usize;
                #(#sizes)*
                #tagged_size
                size
            }
        }

        impl #codec::WireField for #ident {
            fn write<W: #codec::WireWrite + ?Sized>(&self, w: &mut W, ctx: #codec::FieldCtx) -> Result<(), #codec::EncodeError> {
                #codec::Encode::encode(self, w, ctx.version)
            }
            fn wire_size(&self, ctx: #codec::FieldCtx) -> usize {
                #codec::Encode::encoded_size(self, ctx.version)
            }
            fn read(buf: &mut ::bytes::Bytes, ctx: #codec::FieldCtx) -> Result<Self, #codec::DecodeError> {
                <Self as #codec::Decode>::decode(buf, ctx.version)
            }
        }

        impl #codec::WireField for Option<#ident> {
            fn write<W: #codec::WireWrite + ?Sized>(&self, w: &mut W, ctx: #codec::FieldCtx) -> Result<(), #codec::EncodeError> {
                #codec::write_nullable_struct(self.as_ref(), w, ctx)
            }
            fn wire_size(&self, ctx: #codec::FieldCtx) -> usize {
                1 + self.as_ref().map_or(0, |s| #codec::Encode::encoded_size(s, ctx.version))
            }
            fn read(buf: &mut ::bytes::Bytes, ctx: #codec::FieldCtx) -> Result<Self, #codec::DecodeError> {
                #codec::read_nullable_struct(buf, ctx)
            }
        }

        #sample
        #json
    })
}

pub fn decode(input: &DeriveInput) -> syn::Result<TokenStream> {
    let inp = parse(input)?;
    let ident = &inp.ident;
    let name = ident.to_string();
    let flexible = inp.attrs.flexible.cond();
    let codec = quote!(crate::protocol::codec);

    let version_check = version_check(&inp, quote!(#codec::DecodeError));

    let mut reads = Vec::new();
    let mut idents = Vec::new();
    for f in &inp.fields {
        let id = &f.ident;
        let fname = &f.attrs.name;
        idents.push(id.clone());
        let reg = f.regular_cond();
        let ctx = f.ctx(&flexible, false);
        let def = f.default_expr();
        let ty = &f.ty;
        let mutability = f.attrs.tagged.as_ref().map(|_| quote!(mut));
        reads.push(quote! {
            let #mutability #id: #ty = if #reg {
                #codec::WireField::read(buf, #ctx).map_err(|e| e.in_field(#name, #fname))?
            } else {
                #def
            };
        });
    }

    let tagged_section = decode_tagged(&inp, &flexible);
    if let Some(u) = &inp.unknown {
        idents.push(u.clone());
    }

    Ok(quote! {
        impl #codec::Decode for #ident {
            fn decode(buf: &mut ::bytes::Bytes, version: i16) -> Result<Self, #codec::DecodeError> {
                #version_check
                #(#reads)*
                #tagged_section
                Ok(Self { #(#idents),* })
            }
        }
    })
}

/// Writes the tagged-field section: known tags that differ from their defaults merged
/// in tag order with the unknown ones the struct kept.
fn encode_tagged(inp: &Input, flexible: &TokenStream) -> TokenStream {
    let codec = quote!(crate::protocol::codec);
    let Some(unknown) = &inp.unknown else {
        return quote!();
    };
    let tagged_fields = tagged(&inp.fields);
    let mut flags = Vec::new();
    let mut writes = Vec::new();
    for (i, f) in tagged_fields.iter().enumerate() {
        let id = &f.ident;
        let flag = format_ident!("__tagged_{}", i);
        let cond = f.tagged_cond(flexible).unwrap_or_else(|| quote!(false));
        let def = f.default_expr();
        let ctx = f.ctx(flexible, true);
        let tag = f.attrs.tagged.as_ref().map(|(_, t)| *t).unwrap_or_default();
        flags.push(quote! {
            let #flag = #cond && #codec::differs(&self.#id, &#def);
        });
        writes.push(quote! {
            next = #codec::write_raw_tagged_before(w, &self.#unknown, next, #tag);
            if #flag {
                #codec::write_uvarint(w, #tag);
                let len = #codec::WireField::wire_size(&self.#id, #ctx);
                #codec::write_uvarint(w, #codec::checked_u32(len)?);
                #codec::WireField::write(&self.#id, w, #ctx)?;
            }
        });
    }
    let flag_idents: Vec<Ident> = (0..tagged_fields.len())
        .map(|i| format_ident!("__tagged_{}", i))
        .collect();
    let next_mut = (!tagged_fields.is_empty()).then(|| quote!(mut));
    quote! {
        if #flexible {
            #(#flags)*
            let known: u32 = 0 #(+ u32::from(#flag_idents))*;
            #codec::write_uvarint(w, known + #codec::checked_u32(self.#unknown.len())?);
            let #next_mut next = 0usize;
            #(#writes)*
            #codec::write_raw_tagged_rest(w, &self.#unknown, next);
        }
    }
}

fn size_tagged(inp: &Input, flexible: &TokenStream) -> TokenStream {
    let codec = quote!(crate::protocol::codec);
    let Some(unknown) = &inp.unknown else {
        return quote!();
    };
    let tagged_fields = tagged(&inp.fields);
    let count_mut = (!tagged_fields.is_empty()).then(|| quote!(mut));
    let sizes = tagged_fields.into_iter().map(|f| {
        let id = &f.ident;
        let cond = f.tagged_cond(flexible).unwrap_or_else(|| quote!(false));
        let def = f.default_expr();
        let ctx = f.ctx(flexible, true);
        let tag = f.attrs.tagged.as_ref().map(|(_, t)| *t).unwrap_or_default();
        quote! {
            if #cond && #codec::differs(&self.#id, &#def) {
                let len = #codec::WireField::wire_size(&self.#id, #ctx);
                size += #codec::uvarint_size(#tag) + #codec::uvarint_size(len as u32) + len;
                count += 1;
            }
        }
    });
    quote! {
        if #flexible {
            let #count_mut count = self.#unknown.len() as u32;
            #(#sizes)*
            size += self.#unknown.iter().map(#codec::raw_tagged_size).sum::<usize>();
            size += #codec::uvarint_size(count);
        }
    }
}

/// Reads the tagged-field section: known tags into their fields, the rest kept raw.
fn decode_tagged(inp: &Input, flexible: &TokenStream) -> TokenStream {
    let codec = quote!(crate::protocol::codec);
    let Some(unknown) = &inp.unknown else {
        return quote!();
    };
    let name = inp.ident.to_string();
    let tagged_fields = tagged(&inp.fields);
    let data_mut = (!tagged_fields.is_empty()).then(|| quote!(mut));
    let arms = tagged_fields.into_iter().map(|f| {
        let id = &f.ident;
        let fname = &f.attrs.name;
        let tag = f.attrs.tagged.as_ref().map(|(_, t)| *t).unwrap_or_default();
        let cond = f.tagged_cond(flexible).unwrap_or_else(|| quote!(false));
        let ctx = f.ctx(flexible, true);
        quote! {
            #tag if #cond => {
                #id = #codec::WireField::read(&mut data, #ctx).map_err(|e| e.in_field(#name, #fname))?;
            }
        }
    });
    quote! {
        let mut #unknown = ::std::vec::Vec::new();
        if #flexible {
            let count = #codec::read_uvarint(buf)?;
            #codec::check_count(count as usize, buf)?;
            for _ in 0..count {
                let tag = #codec::read_uvarint(buf)?;
                let len = #codec::read_uvarint(buf)? as usize;
                let #data_mut data = #codec::take(buf, len)?;
                match tag {
                    #(#arms)*
                    _ => #unknown.push(#codec::RawTaggedField { tag, data }),
                }
            }
        }
    }
}

/// `cfg(test)`: a random value that is valid at a version, for round-trip tests.
fn sample_impl(inp: &Input) -> TokenStream {
    let ident = &inp.ident;
    let flexible = inp.attrs.flexible.cond();
    let testing = quote!(crate::protocol::testing);
    let unknown_sample = inp.unknown.as_ref().map(|u| {
        quote!(#u: if #flexible { #testing::sample_unknown_tags(g) } else { ::std::vec::Vec::new() },)
    });
    let fields = inp.fields.iter().map(|f| {
        let id = &f.ident;
        let reg = f.regular_cond();
        let def = f.default_expr();
        let ctx = f.ctx(&flexible, false);
        let tagged = match f.tagged_cond(&flexible) {
            Some(t) => {
                let tctx = f.ctx(&flexible, true);
                quote!(else if #t { #testing::SampleField::sample(g, #tctx) })
            }
            None => quote!(),
        };
        quote! {
            #id: if #reg { #testing::SampleField::sample(g, #ctx) } #tagged else { #def },
        }
    });
    quote! {
        #[cfg(test)]
        impl #testing::SampleField for #ident {
            fn sample(g: &mut #testing::Gen, ctx: crate::protocol::codec::FieldCtx) -> Self {
                let version = ctx.version;
                g.enter();
                let value = Self { #(#fields)* #unknown_sample };
                g.leave();
                value
            }
        }

        #[cfg(test)]
        impl #testing::SampleField for Option<#ident> {
            fn sample(g: &mut #testing::Gen, ctx: crate::protocol::codec::FieldCtx) -> Self {
                if ctx.nullable && g.one_in(4) {
                    None
                } else {
                    Some(#testing::SampleField::sample(g, ctx))
                }
            }
        }
    }
}

/// `cfg(test)`: the message as Kafka's JSON converter writes it (camelCase names). Every
/// field is there, as Kafka's converter also writes fields the version lacks.
fn json_impl(inp: &Input) -> TokenStream {
    let ident = &inp.ident;
    let testing = quote!(crate::protocol::testing);
    let fields = inp.fields.iter().map(|f| {
        let id = &f.ident;
        let mut chars = f.attrs.name.chars();
        let camel: String = chars
            .next()
            .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
            .unwrap_or_default();
        quote! {
            map.insert(#camel.to_string(), #testing::JsonField::to_json(&self.#id, version));
        }
    });
    quote! {
        #[cfg(test)]
        impl #testing::JsonField for #ident {
            fn to_json(&self, version: i16) -> ::serde_json::Value {
                let mut map = ::serde_json::Map::new();
                #(#fields)*
                ::serde_json::Value::Object(map)
            }
        }

        #[cfg(test)]
        impl #testing::JsonField for Option<#ident> {
            fn to_json(&self, version: i16) -> ::serde_json::Value {
                match self {
                    Some(v) => #testing::JsonField::to_json(v, version),
                    None => ::serde_json::Value::Null,
                }
            }
        }
    }
}
