//! Test support: random values valid at a version (for round trips) and Kafka's JSON
//! view of a message (for the conformance vectors). The derive macro implements both
//! traits for every generated struct under `cfg(test)`.

use super::codec::FieldCtx;
use bytes::Bytes;
use uuid::Uuid;

/// A small deterministic generator (splitmix64), seeded by proptest.
pub struct Gen {
    state: u64,
    depth: u32,
}

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen {
            state: seed,
            depth: 0,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// Nested structs get shorter arrays, so samples stay small.
    pub fn enter(&mut self) {
        self.depth += 1;
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn array_len(&mut self) -> usize {
        let max = if self.depth > 3 { 1 } else { 3 };
        self.below(max + 1) as usize
    }

    fn bytes(&mut self) -> Bytes {
        let len = self.below(24) as usize;
        (0..len)
            .map(|_| self.next_u64() as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    fn string(&mut self) -> String {
        const CHARS: &[char] = &['a', 'b', 'z', '0', '-', '_', '.', 'é', '→', '𝄞'];
        let len = self.below(12) as usize;
        (0..len)
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize])
            .collect()
    }
}

/// Now and then a few tagged fields no schema knows (tags from 1000 up, ascending), so
/// round trips cover keeping them and merging them with the known ones.
pub fn sample_unknown_tags(g: &mut Gen) -> Vec<super::codec::RawTaggedField> {
    if !g.one_in(8) {
        return Vec::new();
    }
    let mut tag = 1000;
    (0..1 + g.below(2))
        .map(|_| {
            tag += 1 + g.below(200) as u32;
            super::codec::RawTaggedField {
                tag,
                data: g.bytes(),
            }
        })
        .collect()
}

/// A random value of a field type, valid under `ctx`.
pub trait SampleField: Sized {
    fn sample(g: &mut Gen, ctx: FieldCtx) -> Self;
}

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl SampleField for $t {
            fn sample(g: &mut Gen, _: FieldCtx) -> Self {
                match g.below(4) {
                    0 => 0,
                    1 => <$t>::MAX,
                    2 => <$t>::MIN,
                    _ => g.next_u64() as $t,
                }
            }
        }
    )*};
}

sample_int!(i8, i16, i32, i64, u16, u32);

impl SampleField for f64 {
    fn sample(g: &mut Gen, _: FieldCtx) -> Self {
        (g.next_u64() % 1_000_000) as f64 / 7.0
    }
}

impl SampleField for bool {
    fn sample(g: &mut Gen, _: FieldCtx) -> Self {
        g.one_in(2)
    }
}

impl SampleField for Uuid {
    fn sample(g: &mut Gen, _: FieldCtx) -> Self {
        Uuid::from_u64_pair(g.next_u64(), g.next_u64())
    }
}

impl SampleField for String {
    fn sample(g: &mut Gen, _: FieldCtx) -> Self {
        g.string()
    }
}

impl SampleField for Bytes {
    fn sample(g: &mut Gen, _: FieldCtx) -> Self {
        g.bytes()
    }
}

impl<T: SampleField> SampleField for Vec<T> {
    fn sample(g: &mut Gen, ctx: FieldCtx) -> Self {
        let len = g.array_len();
        let ctx = FieldCtx {
            nullable: false,
            ..ctx
        };
        (0..len).map(|_| T::sample(g, ctx)).collect()
    }
}

macro_rules! sample_option {
    ($($t:ty),*) => {$(
        impl SampleField for Option<$t> {
            fn sample(g: &mut Gen, ctx: FieldCtx) -> Self {
                if ctx.nullable && g.one_in(4) {
                    None
                } else {
                    Some(<$t>::sample(g, ctx))
                }
            }
        }
    )*};
}

sample_option!(String, Bytes);

impl<T: SampleField> SampleField for Option<Vec<T>> {
    fn sample(g: &mut Gen, ctx: FieldCtx) -> Self {
        if ctx.nullable && g.one_in(4) {
            None
        } else {
            Some(Vec::sample(g, ctx))
        }
    }
}

/// Kafka's JSON view of a value, as its generated JSON converters write it: camelCase
/// field names, bytes and records in base64, uuids in URL-safe base64.
pub trait JsonField {
    fn to_json(&self, version: i16) -> serde_json::Value;
}

macro_rules! json_plain {
    ($($t:ty),*) => {$(
        impl JsonField for $t {
            fn to_json(&self, _: i16) -> serde_json::Value {
                serde_json::json!(self)
            }
        }
    )*};
}

json_plain!(i8, i16, i32, i64, u16, u32, f64, bool, String);

impl JsonField for Bytes {
    fn to_json(&self, _: i16) -> serde_json::Value {
        use base64::Engine;
        serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(self))
    }
}

impl JsonField for Uuid {
    fn to_json(&self, _: i16) -> serde_json::Value {
        use base64::Engine;
        serde_json::Value::String(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.as_bytes()),
        )
    }
}

impl<T: JsonField> JsonField for Vec<T> {
    fn to_json(&self, version: i16) -> serde_json::Value {
        serde_json::Value::Array(self.iter().map(|v| v.to_json(version)).collect())
    }
}

macro_rules! json_option {
    ($($t:ty),*) => {$(
        impl JsonField for Option<$t> {
            fn to_json(&self, version: i16) -> serde_json::Value {
                match self {
                    Some(v) => v.to_json(version),
                    None => serde_json::Value::Null,
                }
            }
        }
    )*};
}

json_option!(String, Bytes);

impl<T: JsonField> JsonField for Option<Vec<T>> {
    fn to_json(&self, version: i16) -> serde_json::Value {
        match self {
            Some(v) => v.to_json(version),
            None => serde_json::Value::Null,
        }
    }
}
