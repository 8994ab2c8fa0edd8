//! The core's own JSON: one small reader and writer for the log's lines, the projection's
//! snapshot, the tools' arguments and replies, the views and the host's answers.
//!
//! serde's derived decoders are a state machine per type, copied again for every way of
//! reading; for the log's two dozen event types, the projection and the tools' arguments they
//! were the largest part of the `.wasm`. Here a text is parsed once into a `Json` tree that
//! borrows it, and each type lists its fields once (`json_fields!`) for both directions. The
//! writer spells JSON exactly as serde_json does, byte for byte: the integrity chain hashes the
//! lines as written.
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
        Ok(T::from_json(&self.value(0)?)?)
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

/// Why a value could not be read: where in it (`servers[1].url`), and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Fields and list items from the value read down to the culprit; empty: the value itself.
    path: String,
    what: String,
}

impl JsonError {
    /// The value is not `want` ("a string"); the message says what it is instead.
    pub fn want(want: &str, got: &Json) -> Self {
        Self::new(format!("expected {want}, got {}", kind(got)))
    }

    /// Any other reason, said as it is ("missing").
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            path: String::new(),
            what: what.into(),
        }
    }

    /// The same error, in field `name` of an object.
    pub fn in_field(self, name: &str) -> Self {
        self.under(name)
    }

    /// The same error, in item `i` of a list.
    pub fn in_item(self, i: usize) -> Self {
        self.under(&format!("[{i}]"))
    }

    fn under(mut self, step: &str) -> Self {
        let dot = !self.path.is_empty() && !self.path.starts_with('[');
        self.path = format!("{step}{}{}", if dot { "." } else { "" }, self.path);
        self
    }

    /// ``invalid argument `bead_id`: expected a string, got 5`` (`one`, then the path), or
    /// ``invalid arguments: expected an object, got null`` (`all`) when the whole value is wrong.
    pub fn naming(&self, one: &str, all: &str) -> String {
        if self.path.is_empty() {
            format!("{all}: {}", self.what)
        } else {
            format!("{one} `{}`: {}", self.path, self.what)
        }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.what)
        } else {
            write!(f, "`{}`: {}", self.path, self.what)
        }
    }
}

impl From<JsonError> for String {
    fn from(e: JsonError) -> Self {
        e.to_string()
    }
}

/// A value as an error message shows it: scalars as written (long strings cut), lists and
/// objects by their kind.
fn kind(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Num(n) => (*n).into(),
        Json::Str(s) => match s.char_indices().nth(40) {
            Some((cut, _)) => format!("{:?}...", &s[..cut]),
            None => format!("{s:?}"),
        },
        Json::Unpaired => "a string with a lone surrogate escape".into(),
        Json::Arr(_) => "a list".into(),
        Json::Obj(_) => "an object".into(),
    }
}

/// A Rust value read from a `Json`; the error says where and why it is not one.
pub trait FromJson: Sized {
    fn from_json(json: &Json) -> Result<Self, JsonError>;
}

/// A Rust value written as JSON, as serde_json writes it.
pub trait ToJson {
    fn write(&self, out: &mut String);

    /// Left out (an `opt` field) when it says nothing: absent, empty or false.
    fn is_blank(&self) -> bool {
        false
    }
}

/// A struct whose fields are listed once, by `json_fields!`, for both directions.
pub trait JsonFields: Sized {
    fn write_fields(&self, o: &mut ObjWriter);
    fn read_fields(f: &Fields) -> Result<Self, JsonError>;
}

/// Declares how a struct's fields are written and read, in the order they are written:
/// `req` is always written and must be there; `opt` is left out when blank and read as its
/// default when absent (an `Option` also when `null`); `def` is always written and read as its
/// default when absent. `field = "name"` spells the field otherwise in JSON.
///
/// `strict Type { .. }` refuses fields it does not list (a misspelt option must not pass
/// unnoticed); `write Type { .. }` only writes (a reply, never read back), and `read Type { .. }`
/// only reads (an answer of the host's). `defaults Type { field, .. }` only reads, strictly, over
/// the struct's own `Default`: each absent field keeps the value it has there (the options).
macro_rules! json_fields {
    (defaults $ty:ty { $($field:ident,)+ }) => {
        impl $crate::json::FromJson for $ty {
            fn from_json(json: &$crate::json::Json) -> Result<Self, $crate::json::JsonError> {
                let f = $crate::json::Fields::of(json)?;
                f.only(&[$(stringify!($field)),+])?;
                let mut value = Self::default();
                $(f.update(stringify!($field), &mut value.$field)?;)+
                Ok(value)
            }
        }
    };
    (strict $ty:ty { $($mode:ident $field:ident $(= $name:literal)?,)+ }) => {
        $crate::json::json_fields!(@impl $ty, [$($crate::json::json_fields!(@name $field $($name)?)),+],
            { $($mode $field $($name)?,)+ });
    };
    (write $ty:ty { $($mode:ident $field:ident $(= $name:literal)?,)+ }) => {
        impl $crate::json::ToJson for $ty {
            fn write(&self, out: &mut String) {
                let mut o = $crate::json::ObjWriter::new(out);
                $($crate::json::json_fields!(@write $mode o self $field $($name)?);)+
                o.end();
            }
        }
    };
    (read $ty:ty { $($mode:ident $field:ident $(= $name:literal)?,)+ }) => {
        impl $crate::json::FromJson for $ty {
            fn from_json(json: &$crate::json::Json) -> Result<Self, $crate::json::JsonError> {
                let f = $crate::json::Fields::of(json)?;
                let mut value = Self::default();
                $(f.update_into($crate::json::json_fields!(@name $field $($name)?), &mut value.$field,
                    $crate::json::json_fields!(@required $mode))?;)+
                Ok(value)
            }
        }
    };
    ($ty:ty { $($mode:ident $field:ident $(= $name:literal)?,)+ }) => {
        $crate::json::json_fields!(@impl $ty, [], { $($mode $field $($name)?,)+ });
    };
    (@required req) => {
        true
    };
    (@required $mode:ident) => {
        false
    };
    // Every reader reads into the type's default, field by field: one value to drop on an
    // error rather than a struct literal of many fallible parts (much smaller code for a type
    // of many fields), each field set through the one non-generic `Fields::update_into`.
    (@impl $ty:ty, [$($known:expr),*], { $($mode:ident $field:ident $($name:literal)?,)+ }) => {
        impl $crate::json::JsonFields for $ty {
            fn write_fields(&self, o: &mut $crate::json::ObjWriter) {
                $($crate::json::json_fields!(@write $mode o self $field $($name)?);)+
            }

            fn read_fields(f: &$crate::json::Fields) -> Result<Self, $crate::json::JsonError> {
                let known: &[&str] = &[$($known),*];
                if !known.is_empty() {
                    f.only(known)?;
                }
                let mut value = Self::default();
                $(f.update_into($crate::json::json_fields!(@name $field $($name)?), &mut value.$field,
                    $crate::json::json_fields!(@required $mode))?;)+
                Ok(value)
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
            fn from_json(json: &$crate::json::Json) -> Result<Self, $crate::json::JsonError> {
                $crate::json::JsonFields::read_fields(&$crate::json::Fields::of(json)?)
            }
        }
    };
    (@name $field:ident) => {
        stringify!($field)
    };
    (@name $field:ident $name:literal) => {
        $name
    };
    (@write opt $o:ident $s:ident $field:ident $($name:literal)?) => {
        $o.unless_blank($crate::json::json_fields!(@name $field $($name)?), &$s.$field)
    };
    (@write $mode:ident $o:ident $s:ident $field:ident $($name:literal)?) => {
        $o.field($crate::json::json_fields!(@name $field $($name)?), &$s.$field)
    };
}
pub(crate) use json_fields;

/// A place a JSON value is read into (`Fields::update_into`).
pub trait Slot {
    fn set(&mut self, json: &Json) -> Result<(), JsonError>;
}

impl<T: FromJson> Slot for T {
    fn set(&mut self, json: &Json) -> Result<(), JsonError> {
        *self = T::from_json(json)?;
        Ok(())
    }
}

/// The fields of an object, read by name.
pub struct Fields<'j, 'a>(&'j [(Cow<'a, str>, Json<'a>)]);

impl<'j, 'a> Fields<'j, 'a> {
    pub fn of(json: &'j Json<'a>) -> Result<Self, JsonError> {
        match json {
            Json::Obj(fields) => Ok(Self(fields)),
            _ => Err(JsonError::want("an object", json)),
        }
    }

    /// The field's value; a field given twice is refused, as serde's derives do.
    pub fn get(&self, name: &str) -> Result<Option<&'j Json<'a>>, JsonError> {
        let mut found = None;
        for (key, value) in self.0 {
            if key == name {
                if found.is_some() {
                    return Err(JsonError::new("given twice").in_field(name));
                }
                found = Some(value);
            }
        }
        Ok(found)
    }

    /// A field that must be there.
    pub fn req<T: FromJson>(&self, name: &str) -> Result<T, JsonError> {
        match self.get(name)? {
            Some(value) => read(name, value),
            None => Err(JsonError::new("missing").in_field(name)),
        }
    }

    /// A field read as its default when absent.
    pub fn opt<T: FromJson + Default>(&self, name: &str) -> Result<T, JsonError> {
        let mut value = T::default();
        self.update(name, &mut value)?;
        Ok(value)
    }

    /// A field read into `slot` when present; `slot` is left as it is when absent.
    pub fn update<T: FromJson>(&self, name: &str, slot: &mut T) -> Result<(), JsonError> {
        self.update_into(name, slot, false)
    }

    /// A field read into `slot`; absent, an error when `required`, else `slot` is left as it is.
    /// Not generic: one copy for every field of every type (the type's part is `Slot::set`).
    pub fn update_into(
        &self,
        name: &str,
        slot: &mut dyn Slot,
        required: bool,
    ) -> Result<(), JsonError> {
        match self.get(name)? {
            Some(value) => slot.set(value).map_err(|e| e.in_field(name)),
            None if required => Err(JsonError::new("missing").in_field(name)),
            None => Ok(()),
        }
    }

    /// Refuses a field not named in `known`, with the names it could have been.
    pub fn only(&self, known: &[&str]) -> Result<(), JsonError> {
        match self.0.iter().find(|(key, _)| !known.contains(&&**key)) {
            Some((key, _)) => {
                let names: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                Err(JsonError::new(format!(
                    "unknown field `{key}`, expected one of {}",
                    names.join(", ")
                )))
            }
            None => Ok(()),
        }
    }
}

fn read<T: FromJson>(name: &str, value: &Json) -> Result<T, JsonError> {
    T::from_json(value).map_err(|e| e.in_field(name))
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
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        match json {
            Json::Str(s) => Ok(s.to_string()),
            _ => Err(JsonError::want("a string", json)),
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
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        match json {
            Json::Bool(b) => Ok(*b),
            _ => Err(JsonError::want("true or false", json)),
        }
    }
}

/// A whole number as written: digits only, after a `-` where `signed`; no fraction or exponent
/// (serde_json reads those as other types, which an integer field refuses).
fn whole(json: &Json, signed: bool) -> Option<i128> {
    match json {
        Json::Num(n) => {
            let digits = if signed {
                n.strip_prefix('-').unwrap_or(n)
            } else {
                n
            };
            if digits.bytes().all(|b| b.is_ascii_digit()) {
                n.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

macro_rules! integers {
    ($($t:ty),+) => {$(
        impl ToJson for $t {
            fn write(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }

        impl FromJson for $t {
            fn from_json(json: &Json) -> Result<Self, JsonError> {
                whole(json, <$t>::MIN != 0)
                    .and_then(|n| <$t>::try_from(n).ok())
                    .ok_or_else(|| {
                        let want = format!("a whole number from {} to {}", <$t>::MIN, <$t>::MAX);
                        JsonError::want(&want, json)
                    })
            }
        }
    )+};
}
integers!(u8, u32, u64, usize, i32);

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
    fn from_json(json: &Json) -> Result<Self, JsonError> {
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

impl<T: FromJson> FromJson for Box<T> {
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        T::from_json(json).map(Box::new)
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
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        match json {
            Json::Arr(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_json(item).map_err(|e| e.in_item(i)))
                .collect(),
            _ => Err(JsonError::want("a list", json)),
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
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        match json {
            Json::Obj(fields) => fields
                .iter()
                .map(|(key, value)| read(key, value).map(|v| (key.to_string(), v)))
                .collect(),
            _ => Err(JsonError::want("an object", json)),
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
            fn from_json(json: &Json) -> Result<Self, JsonError> {
                match json {
                    Json::Arr(items) if items.len() == $len => Ok(($(
                        $t::from_json(&items[$i]).map_err(|e| e.in_item($i))?,
                    )+)),
                    _ => Err(JsonError::want(concat!("a list of ", $len, " items"), json)),
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
    fn from_json(_: &Json) -> Result<Self, JsonError> {
        Ok(Self)
    }
}

/// One of an enum's names, as `as_str` spells them.
pub fn one_of<T: Copy>(
    json: &Json,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, JsonError> {
    if let Json::Str(s) = json {
        if let Some(&v) = all.iter().find(|&&v| name(v) == s) {
            return Ok(v);
        }
    }
    let names: Vec<String> = all.iter().map(|&v| format!("`{}`", name(v))).collect();
    Err(JsonError::want(
        &format!("one of {}", names.join(", ")),
        json,
    ))
}

/// Enums whose JSON is their `as_str` name, one of `ALL`.
macro_rules! json_names {
    ($($t:ty),+) => {$(
        impl $crate::json::ToJson for $t {
            fn write(&self, out: &mut String) {
                $crate::json::write_str(out, self.as_str());
            }
        }

        impl $crate::json::FromJson for $t {
            fn from_json(json: &$crate::json::Json) -> Result<Self, $crate::json::JsonError> {
                $crate::json::one_of(json, &Self::ALL, Self::as_str)
            }
        }
    )+};
}
pub(crate) use json_names;

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

    #[derive(Debug, Default, PartialEq)]
    struct Server {
        url: String,
        max_workers: u32,
        dir: Option<String>,
    }
    json_fields!(strict Server {
        req url,
        def max_workers,
        opt dir = "directory",
    });

    #[derive(Debug, PartialEq)]
    struct Setup {
        on: bool,
        servers: Vec<Server>,
        code: i32,
    }
    impl Default for Setup {
        fn default() -> Self {
            Self {
                on: true,
                servers: Vec::new(),
                code: -1,
            }
        }
    }
    json_fields!(defaults Setup {
        on,
        servers,
        code,
    });

    fn setup(text: &str) -> Result<Setup, String> {
        Ok(Setup::from_json(&parse(text)?)?)
    }

    #[test]
    fn an_error_names_the_path_to_the_value_and_what_was_expected_instead() {
        for (text, error) in [
            (r#"{"on":1}"#, "`on`: expected true or false, got 1"),
            (r#"{"servers":{}}"#, "`servers`: expected a list, got an object"),
            (
                r#"{"servers":[{"url":"a"},{"url":7}]}"#,
                "`servers[1].url`: expected a string, got 7",
            ),
            (r#"{"servers":[{}]}"#, "`servers[0].url`: missing"),
            (
                r#"{"servers":[{"url":"a","max_workers":-2}]}"#,
                "`servers[0].max_workers`: expected a whole number from 0 to 4294967295, got -2",
            ),
            (
                r#"{"servers":[{"url":"a","dir":"/x"}]}"#,
                "`servers[0]`: unknown field `dir`, expected one of `url`, `max_workers`, `directory`",
            ),
            (r#"{"on":true,"on":false}"#, "`on`: given twice"),
            ("[]", "expected an object, got a list"),
            (
                r#"{"code":"x"}"#,
                r#"`code`: expected a whole number from -2147483648 to 2147483647, got "x""#,
            ),
        ] {
            assert_eq!(setup(text), Err(error.to_string()), "{text}");
        }
        let wrong = JsonError::want("a string", &Json::Null);
        let named = |e: &JsonError| e.naming("invalid argument", "invalid arguments");
        assert_eq!(
            named(&wrong),
            "invalid arguments: expected a string, got null"
        );
        assert_eq!(
            named(&wrong.in_item(2).in_field("files")),
            "invalid argument `files[2]`: expected a string, got null"
        );
        let long = format!(r#"{{"on":"{}"}}"#, "y".repeat(50));
        let got = format!(r#"got "{}"..."#, "y".repeat(40));
        assert!(setup(&long).unwrap_err().ends_with(&got));
    }

    #[test]
    fn fields_take_their_modes_defaults_and_json_names() {
        assert_eq!(setup("{}"), Ok(Setup::default()));
        let read = setup(r#"{"on":false,"code":-7,"servers":[{"url":"u","directory":"/d"}]}"#);
        assert_eq!(
            read,
            Ok(Setup {
                on: false,
                code: -7,
                servers: vec![Server {
                    url: "u".into(),
                    max_workers: 0,
                    dir: Some("/d".into()),
                }],
            })
        );
        assert_eq!(
            setup(r#"{"code":1,"more":1}"#),
            Err("unknown field `more`, expected one of `on`, `servers`, `code`".into())
        );
        let mut out = String::new();
        read.unwrap().servers[0].write(&mut out);
        assert_eq!(out, r#"{"url":"u","max_workers":0,"directory":"/d"}"#);
    }

    #[test]
    fn a_signed_field_reads_negative_whole_numbers_within_its_range() {
        assert_eq!(i32::from_json(&parse("-2147483648").unwrap()), Ok(i32::MIN));
        assert_eq!(i32::from_json(&parse("-0").unwrap()), Ok(0));
        for text in ["2147483648", "-1.0", "1e3", "--1"] {
            assert!(
                parse(text).map_or(true, |j| i32::from_json(&j).is_err()),
                "{text}"
            );
        }
    }
}
