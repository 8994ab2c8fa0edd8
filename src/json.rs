//! The log's own JSON: one small reader and writer for its lines and the projection's snapshot.
//!
//! serde's derived decoders are a state machine per type, copied again for every way of
//! reading; for the log's two dozen event types and the projection they were the largest part
//! of the `.wasm`. Here a line is parsed once into a `Json` tree that borrows its text, and each
//! type lists its fields once (`json_fields!`) for both directions. The writer spells JSON
//! exactly as serde_json does, byte for byte: the integrity chain hashes the lines as written.
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A parsed JSON value; strings without escapes borrow the text they were read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// A number as written (its grammar checked): read as the integer a field wants, or refused.
    Num(&'a str),
    Str(Cow<'a, str>),
    /// A string with a `\u` escape of half a surrogate pair: not text, so refused wherever a
    /// string is read, yet passed over in a field this build does not know, as serde_json did.
    Unpaired,
    Arr(Vec<Json<'a>>),
    /// Fields in the order written, duplicates kept (a reader of a field refuses them).
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// Deeper nesting is refused, as serde_json does, so that a hostile line cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

/// Parses one whole JSON text (whitespace around it allowed, nothing else).
pub fn parse(text: &str) -> Result<Json<'_>, String> {
    let mut p = Parser::new(text);
    let value = p.value(0)?;
    p.end()?;
    Ok(value)
}

/// What `Parser::fields` calls with each field's name.
pub type EachField<'f, 'a> = dyn FnMut(&mut Parser<'a>, Cow<'a, str>) -> Result<(), String> + 'f;

/// A reader of JSON text; besides whole values, it can walk an object's fields or a list's
/// items one at a time, so that a large text (the snapshot) never becomes one large tree.
pub struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    /// Nothing but whitespace is left.
    pub fn end(&mut self) -> Result<(), String> {
        self.ws();
        if self.pos != self.text.len() {
            return Err(self.err("trailing characters"));
        }
        Ok(())
    }

    /// The next value, read as `T`.
    pub fn read<T: FromJson>(&mut self) -> Result<T, String> {
        T::from_json(&self.value(0)?)
    }

    /// Walks an object: `each` is given every field's name and must read its value.
    pub fn fields(&mut self, each: &mut EachField<'_, 'a>) -> Result<(), String> {
        if !self.eat(b'{') {
            return Err(self.err("expected an object"));
        }
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a field name"));
            }
            let name = self.string()?;
            if !self.eat(b':') {
                return Err(self.err("expected `:`"));
            }
            each(self, name)?;
            if self.eat(b'}') {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err(self.err("expected `,` or `}`"));
            }
        }
    }

    /// Walks a list: `each` must read every item.
    pub fn items(
        &mut self,
        each: &mut dyn FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        if !self.eat(b'[') {
            return Err(self.err("expected a list"));
        }
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            each(self)?;
            if self.eat(b']') {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err(self.err("expected `,` or `]`"));
            }
        }
    }

    fn err(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        let found = self.peek() == Some(b);
        self.pos += usize::from(found);
        found
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, String> {
        self.ws();
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let rest = &self.text[self.pos..];
        for (word, value) in [
            ("null", Json::Null),
            ("true", Json::Bool(true)),
            ("false", Json::Bool(false)),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return Ok(value);
            }
        }
        match self.peek() {
            Some(b'"') => Ok(self.any_string()?.map_or(Json::Unpaired, Json::Str)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                let mut items = Vec::new();
                self.items(&mut |p| {
                    items.push(p.value(depth + 1)?);
                    Ok(())
                })?;
                Ok(Json::Arr(items))
            }
            Some(b'{') => {
                let mut fields = Vec::new();
                self.fields(&mut |p, name| {
                    fields.push((name, p.value(depth + 1)?));
                    Ok(())
                })?;
                Ok(Json::Obj(fields))
            }
            _ => Err(self.err("expected a value")),
        }
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<Json<'a>, String> {
        let start = self.pos;
        self.pos += usize::from(self.peek() == Some(b'-'));
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Ok(Json::Num(&self.text[start..self.pos]))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), String> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            return Err(self.err("invalid number"));
        }
        Ok(())
    }

    /// A string that must be text (a field's name), at its opening quote.
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.any_string()?
            .ok_or_else(|| self.err("lone surrogate in a \\u escape"))
    }

    /// A string, at its opening quote; `None` for one with an unpaired surrogate escape.
    fn any_string(&mut self) -> Result<Option<Cow<'a, str>>, String> {
        self.pos += 1;
        let mut from = self.pos;
        let mut owned: Option<String> = None;
        let mut unpaired = false;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let tail = &self.text[from..self.pos];
                    self.pos += 1;
                    if unpaired {
                        return Ok(None);
                    }
                    return Ok(Some(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                    }));
                }
                Some(b'\\') => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[from..self.pos]);
                    self.pos += 1;
                    match self.escape()? {
                        Some(c) => owned.get_or_insert_with(String::new).push(c),
                        None => unpaired = true,
                    }
                    from = self.pos;
                }
                Some(0..=0x1f) => return Err(self.err("control character in a string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// The character an escape stands for, after its backslash; `None` for half a surrogate
    /// pair.
    fn escape(&mut self) -> Result<Option<char>, String> {
        let b = self.peek().ok_or_else(|| self.err("unterminated string"))?;
        self.pos += 1;
        Ok(Some(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF if self.text[self.pos..].starts_with("\\u") => {
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Ok(None);
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    _ => unit,
                };
                // `None` for a surrogate on its own.
                return Ok(char::from_u32(code));
            }
            _ => return Err(self.err("invalid escape")),
        }))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.err("invalid \\u escape"))
    }
}

/// A Rust value read from a `Json`; the error says what the value must be ("a string").
pub trait FromJson: Sized {
    fn from_json(json: &Json) -> Result<Self, String>;
}

/// A Rust value written as JSON, as serde_json writes it.
pub trait ToJson {
    fn write(&self, out: &mut String);

    /// Left out of a log line when it says nothing: absent, empty or false.
    fn is_blank(&self) -> bool {
        false
    }
}

/// A struct whose fields are listed once, by `json_fields!`, for both directions.
pub trait JsonFields: Sized {
    fn write_fields(&self, o: &mut ObjWriter);
    fn read_fields(f: &Fields) -> Result<Self, String>;
}

/// Declares how a struct's fields are written and read, in the order they are written:
/// `req` is always written and must be there; `opt` is left out when blank and read as its
/// default when absent (an `Option` also when `null`); `def` is always written and read as its
/// default when absent.
macro_rules! json_fields {
    ($ty:ty { $($mode:ident $field:ident,)+ }) => {
        impl $crate::json::JsonFields for $ty {
            fn write_fields(&self, o: &mut $crate::json::ObjWriter) {
                $(json_fields!(@write $mode o self $field);)+
            }

            fn read_fields(f: &$crate::json::Fields) -> Result<Self, String> {
                Ok(Self { $($field: json_fields!(@read $mode f $field),)+ })
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write(&self, out: &mut String) {
                let mut o = $crate::json::ObjWriter::new(out);
                $crate::json::JsonFields::write_fields(self, &mut o);
                o.end();
            }
        }

        impl $crate::json::FromJson for $ty {
            fn from_json(json: &$crate::json::Json) -> Result<Self, String> {
                $crate::json::JsonFields::read_fields(&$crate::json::Fields::of(json)?)
            }
        }
    };
    (@write opt $o:ident $s:ident $field:ident) => {
        $o.unless_blank(stringify!($field), &$s.$field)
    };
    (@write $mode:ident $o:ident $s:ident $field:ident) => {
        $o.field(stringify!($field), &$s.$field)
    };
    (@read req $f:ident $field:ident) => {
        $f.req(stringify!($field))?
    };
    (@read $mode:ident $f:ident $field:ident) => {
        $f.opt(stringify!($field))?
    };
}
pub(crate) use json_fields;

/// The fields of an object, read by name.
pub struct Fields<'j, 'a>(&'j [(Cow<'a, str>, Json<'a>)]);

impl<'j, 'a> Fields<'j, 'a> {
    pub fn of(json: &'j Json<'a>) -> Result<Self, String> {
        match json {
            Json::Obj(fields) => Ok(Self(fields)),
            _ => Err("an object".to_string()),
        }
    }

    /// The field's value; a field given twice is refused, as serde's derives do.
    pub fn get(&self, name: &str) -> Result<Option<&'j Json<'a>>, String> {
        let mut found = None;
        for (key, value) in self.0 {
            if key == name {
                if found.is_some() {
                    return Err(format!("field `{name}` is given twice"));
                }
                found = Some(value);
            }
        }
        Ok(found)
    }

    /// A field that must be there.
    pub fn req<T: FromJson>(&self, name: &str) -> Result<T, String> {
        match self.get(name)? {
            Some(value) => read(name, value),
            None => Err(format!("field `{name}` is missing")),
        }
    }

    /// A field read as its default when absent.
    pub fn opt<T: FromJson + Default>(&self, name: &str) -> Result<T, String> {
        match self.get(name)? {
            Some(value) => read(name, value),
            None => Ok(T::default()),
        }
    }
}

fn read<T: FromJson>(name: &str, value: &Json) -> Result<T, String> {
    T::from_json(value).map_err(|want| format!("field `{name}` must be {want}"))
}

/// Writes an object's fields, in the order given.
pub struct ObjWriter<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> ObjWriter<'o> {
    pub fn new(out: &'o mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    pub fn field(&mut self, name: &str, value: &dyn ToJson) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_str(self.out, name);
        self.out.push(':');
        value.write(self.out);
    }

    pub fn unless_blank(&mut self, name: &str, value: &dyn ToJson) {
        if !value.is_blank() {
            self.field(name, value);
        }
    }

    pub fn end(self) {
        self.out.push('}');
    }
}

/// A string as serde_json writes it: `"` and `\` escaped, control characters as their short
/// escape or `\u00xx`, everything else (`/`, non-ASCII) as it is.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        if short.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(short);
        }
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out.push('"');
}

impl ToJson for String {
    fn write(&self, out: &mut String) {
        write_str(out, self);
    }

    fn is_blank(&self) -> bool {
        self.is_empty()
    }
}

impl ToJson for &str {
    fn write(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl FromJson for String {
    fn from_json(json: &Json) -> Result<Self, String> {
        match json {
            Json::Str(s) => Ok(s.to_string()),
            _ => Err("a string".to_string()),
        }
    }
}

impl ToJson for bool {
    fn write(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }

    fn is_blank(&self) -> bool {
        !*self
    }
}

impl FromJson for bool {
    fn from_json(json: &Json) -> Result<Self, String> {
        match json {
            Json::Bool(b) => Ok(*b),
            _ => Err("true or false".to_string()),
        }
    }
}

/// A whole number as written: digits only, no sign, fraction or exponent (serde_json reads
/// those as other types, which an integer field refuses).
fn whole(json: &Json) -> Option<u64> {
    match json {
        Json::Num(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
        _ => None,
    }
}

macro_rules! unsigned {
    ($($t:ty),+) => {$(
        impl ToJson for $t {
            fn write(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }

        impl FromJson for $t {
            fn from_json(json: &Json) -> Result<Self, String> {
                whole(json)
                    .and_then(|n| <$t>::try_from(n).ok())
                    .ok_or_else(|| format!("a whole number from 0 to {}", <$t>::MAX))
            }
        }
    )+};
}
unsigned!(u8, u32, u64, usize);

impl<T: ToJson> ToJson for Option<T> {
    fn write(&self, out: &mut String) {
        match self {
            Some(value) => value.write(out),
            None => out.push_str("null"),
        }
    }

    fn is_blank(&self) -> bool {
        self.is_none()
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(json: &Json) -> Result<Self, String> {
        match json {
            Json::Null => Ok(None),
            _ => T::from_json(json).map(Some),
        }
    }
}

impl<T: ToJson> ToJson for Box<T> {
    fn write(&self, out: &mut String) {
        (**self).write(out)
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write(&self, out: &mut String) {
        out.push('[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            item.write(out);
        }
        out.push(']');
    }

    fn is_blank(&self) -> bool {
        self.is_empty()
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(json: &Json) -> Result<Self, String> {
        match json {
            Json::Arr(items) => items
                .iter()
                .map(T::from_json)
                .collect::<Result<_, _>>()
                .map_err(|want| format!("a list whose items are each {want}")),
            _ => Err("a list".to_string()),
        }
    }
}

impl<T: ToJson> ToJson for BTreeMap<String, T> {
    fn write(&self, out: &mut String) {
        let mut o = ObjWriter::new(out);
        for (key, value) in self {
            o.field(key, value);
        }
        o.end();
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(json: &Json) -> Result<Self, String> {
        match json {
            Json::Obj(fields) => fields
                .iter()
                .map(|(key, value)| Ok((key.to_string(), T::from_json(value)?)))
                .collect::<Result<_, String>>()
                .map_err(|want| format!("an object whose values are each {want}")),
            _ => Err("an object".to_string()),
        }
    }
}

/// Tuples are lists, as serde writes them.
macro_rules! tuple {
    ($len:literal: $($t:ident $i:tt),+) => {
        impl<$($t: ToJson),+> ToJson for ($($t,)+) {
            fn write(&self, out: &mut String) {
                out.push('[');
                $(
                    if $i > 0 {
                        out.push(',');
                    }
                    self.$i.write(out);
                )+
                out.push(']');
            }
        }

        impl<$($t: FromJson),+> FromJson for ($($t,)+) {
            fn from_json(json: &Json) -> Result<Self, String> {
                match json {
                    Json::Arr(items) if items.len() == $len => Ok(($($t::from_json(&items[$i])?,)+)),
                    _ => Err(concat!("a list of ", $len, " items").to_string()),
                }
            }
        }
    };
}
tuple!(2: A 0, B 1);
tuple!(3: A 0, B 1, C 2);

/// A value read and passed over (a field this build does not know).
pub struct Ignored;

impl FromJson for Ignored {
    fn from_json(_: &Json) -> Result<Self, String> {
        Ok(Self)
    }
}

/// One of an enum's names, as `as_str` spells them.
pub fn one_of<T: Copy>(json: &Json, all: &[T], name: fn(T) -> &'static str) -> Result<T, String> {
    if let Json::Str(s) = json {
        if let Some(&v) = all.iter().find(|&&v| name(v) == s) {
            return Ok(v);
        }
    }
    let names: Vec<String> = all.iter().map(|&v| format!("`{}`", name(v))).collect();
    Err(format!("one of {}", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parsed_text_borrows_strings_without_escapes_and_decodes_the_others() {
        let json = parse(r#" {"a": ["x", "y\n\u00e9\ud83d\udc1d", -1.5e3, true, null, {}]} "#);
        let Ok(Json::Obj(fields)) = json else {
            panic!("{json:?}");
        };
        let Json::Arr(items) = &fields[0].1 else {
            panic!("{fields:?}");
        };
        assert!(matches!(&items[0], Json::Str(Cow::Borrowed("x"))));
        assert_eq!(items[1], Json::Str(Cow::Owned("y\né🐝".into())));
        assert_eq!(items[2], Json::Num("-1.5e3"));
        assert_eq!(items[3..5], [Json::Bool(true), Json::Null]);
    }

    #[test]
    fn texts_that_break_the_grammar_are_refused() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "\"\\x\"",
            "\"a\u{1}\"",
            "\"\\u12\"",
            "{} {}",
            "[1 2]",
            "{1:2}",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn an_unpaired_surrogate_escape_is_not_text_but_may_be_passed_over() {
        for text in [r#""\ud800""#, r#""\udc00x""#, r#""\ud800\u0041""#] {
            assert_eq!(parse(text), Ok(Json::Unpaired), "{text}");
        }
        assert!(String::from_json(&Json::Unpaired).is_err());
        assert!(parse(r#"{"\ud800":1}"#).is_err());
        assert_eq!(
            parse(r#""\ud83d\udc1d""#),
            Ok(Json::Str(Cow::Owned("🐝".into())))
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_without_exhausting_the_stack() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(parse(&deep).unwrap_err().starts_with("nested too deeply"));
    }

    #[test]
    fn strings_are_written_with_serde_jsons_escapes() {
        let text = "q\" b\\ s/ \n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é 🐝 \u{2028}".to_string();
        let mut out = String::new();
        text.write(&mut out);
        assert_eq!(out, serde_json::to_string(&text).unwrap());
        assert_eq!(String::from_json(&parse(&out).unwrap()), Ok(text));
    }

    #[test]
    fn an_integer_field_refuses_signs_fractions_exponents_and_overflow() {
        for text in ["-1", "-0", "1.0", "1e2", "18446744073709551616", "\"1\""] {
            assert!(u64::from_json(&parse(text).unwrap()).is_err(), "{text}");
        }
        assert_eq!(
            u64::from_json(&parse("18446744073709551615").unwrap()),
            Ok(u64::MAX)
        );
        assert!(u8::from_json(&parse("256").unwrap()).is_err());
    }
}
