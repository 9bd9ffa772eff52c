//! Deciding which queue entries go, and splicing the survivors back byte for byte.
//!
//! We never re-serialise the queue: v0's mergeq and people read and diff it,
//! and it may carry fields, key orders and number spellings we do not know.
//! The document is parsed once with [`RawValue`] to learn where each entry
//! lies in the original text; each entry is judged on its own; the output is
//! the original text with the removed entries (and one separator each) cut
//! out.

use std::fmt;

use jiff::Timestamp;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::prune::{Cutoff, RemovedEntry, Skipped};

/// Statuses after which v0's mergeq never looks at an entry again.
const TERMINAL: [&str; 3] = ["completed", "failed", "conflict"];

/// What one pass over a queue's text decided.
#[derive(Debug)]
pub(super) struct Plan {
    /// Entries in the queue.
    pub entries: u64,
    /// Entries to remove, with the bytes each took in the file.
    pub removed: Vec<(RemovedEntry, u64)>,
    /// Entries kept because we could not judge them.
    pub skipped: Vec<Skipped>,
    /// The new text, when anything is removed.
    pub output: Option<Vec<u8>>,
    /// Entries per status, by status (`""` for an entry without a string status).
    pub statuses: Vec<(String, u64)>,
}

/// Why a queue's text is not a queue we may touch; the message names the spot.
#[derive(Debug)]
pub(super) struct Corrupt(pub String);

/// Judges every entry of `bytes` against `cutoff` and splices the kept ones.
pub(super) fn plan(bytes: &[u8], cutoff: &Cutoff) -> Result<Plan, Corrupt> {
    let text = std::str::from_utf8(bytes).map_err(|err| {
        let (line, column) = position(bytes, err.valid_up_to());
        Corrupt(format!("invalid UTF-8 at line {line} column {column}"))
    })?;
    let raws = match entries_in_one_pass(text) {
        Some(raws) => raws,
        None => entries_with_diagnosis(text, bytes)?,
    };

    let mut spans = Vec::with_capacity(raws.len());
    let mut keep = Vec::with_capacity(raws.len());
    let mut removed = Vec::new();
    let mut skipped = Vec::new();
    let mut statuses = std::collections::BTreeMap::<String, u64>::new();
    for (index, raw) in raws.iter().enumerate() {
        let status = status_of(raw.get());
        match statuses.get_mut(status.as_ref()) {
            Some(count) => *count += 1,
            None => {
                statuses.insert(status.into_owned(), 1);
            }
        }
        let span = span_of(text, raw.get())?;
        spans.push(span);
        match judge(raw.get(), index, cutoff) {
            Verdict::Keep => keep.push(true),
            Verdict::Skip(skip) => {
                keep.push(true);
                skipped.push(skip);
            }
            Verdict::Remove(entry) => {
                keep.push(false);
                removed.push((entry, (span.1 - span.0) as u64));
            }
        }
    }
    let output = (!removed.is_empty()).then(|| splice(text, &spans, &keep));
    Ok(Plan {
        entries: raws.len() as u64,
        removed,
        skipped,
        output,
        statuses: statuses.into_iter().collect(),
    })
}

/// An entry's status as text (`""` when it has none or it is not a string),
/// for the Files view's count by status: borrowed from the entry's text
/// unless it has escapes.
fn status_of(raw: &str) -> std::borrow::Cow<'_, str> {
    #[derive(serde::Deserialize)]
    struct StatusField<'a> {
        #[serde(borrow, default)]
        status: Option<&'a RawValue>,
    }
    let Ok(StatusField {
        status: Some(status),
    }) = serde_json::from_str::<StatusField<'_>>(raw)
    else {
        return "".into();
    };
    match plain(status) {
        Some(plain) => plain.into(),
        None => serde_json::from_str::<String>(status.get())
            .map(Into::into)
            .unwrap_or_default(),
    }
}

/// The entries of a well-formed queue, found in one pass over the text:
/// `None` for anything unusual (no `entries`, a duplicate one, not an
/// array, invalid JSON), which [`entries_with_diagnosis`] then explains.
fn entries_in_one_pass(text: &str) -> Option<Vec<&RawValue>> {
    let document: FastDocument<'_> = serde_json::from_str(text).ok()?;
    if document.duplicate_entries {
        return None;
    }
    document.entries
}

/// The entries of a queue read the slow way, which can say what is wrong.
fn entries_with_diagnosis<'a>(text: &'a str, bytes: &[u8]) -> Result<Vec<&'a RawValue>, Corrupt> {
    let document: Document<'_> = serde_json::from_str(text).map_err(|err| {
        // serde_json's message already ends in "at line L column C".
        Corrupt(err.to_string())
    })?;
    if document.duplicate_entries {
        return Err(Corrupt("the key `entries` appears more than once".into()));
    }
    let Some(array) = document.entries else {
        return Err(Corrupt("it has no `entries` array".into()));
    };
    let array_start = span_of(text, array.get())?.0;
    serde_json::from_str(array.get()).map_err(|_| {
        let (line, column) = position(bytes, array_start);
        let kind = serde_json::from_str::<Value>(array.get())
            .map(|value| kind_of(&value))
            .unwrap_or("not JSON");
        Corrupt(format!(
            "`entries` is {kind}, not an array, at line {line} column {column}"
        ))
    })
}

/// The verdict on one entry.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// Kept, but worth telling the user about.
    Skip(Skipped),
    Remove(RemovedEntry),
}

/// The contract's rule: terminal and older than the cutoff by `updated_at`, else `enqueued_at`.
fn judge(raw: &str, index: usize, cutoff: &Cutoff) -> Verdict {
    match judge_plain(raw, cutoff) {
        Some(verdict) => verdict,
        None => judge_by_value(raw, index, cutoff),
    }
}

/// The fields the rule reads, borrowed from the entry's text. Everything
/// else in the entry is skipped without being built, which is most of the
/// work on a large queue.
#[derive(serde::Deserialize)]
struct RuleFields<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    operation: Option<&'a RawValue>,
    #[serde(borrow, default)]
    branch: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    updated_at: Option<&'a RawValue>,
    #[serde(borrow, default)]
    enqueued_at: Option<&'a RawValue>,
}

/// The rule on the common shape of an entry: an object whose fields are
/// plain strings (no escapes) and valid timestamps. `None` for anything
/// else (duplicate keys, escapes, numbers as labels, bad timestamps), which
/// [`judge_by_value`] decides, with its messages: both give the same verdict.
fn judge_plain(raw: &str, cutoff: &Cutoff) -> Option<Verdict> {
    if !raw.starts_with('{') || could_nest_too_deep(raw) {
        return None;
    }
    let fields: RuleFields<'_> = serde_json::from_str(raw).ok()?;
    let status = match fields.status {
        // Absent, null or not a string: not terminal.
        None => return Some(Verdict::Keep),
        Some(status) if !status.get().starts_with('"') => return Some(Verdict::Keep),
        Some(status) => plain(status)?,
    };
    if !TERMINAL.contains(&status) {
        return Some(Verdict::Keep);
    }
    let expired = match fields.updated_at.or(fields.enqueued_at) {
        None => true,
        Some(stamp) => cutoff.expires(plain(stamp)?.parse::<Timestamp>().ok()?),
    };
    if !expired {
        return Some(Verdict::Keep);
    }
    let label = match fields.id.or(fields.operation).or(fields.branch) {
        Some(label) => plain(label)?.to_string(),
        None => return None,
    };
    Some(Verdict::Remove(RemovedEntry {
        label,
        status: status.to_string(),
    }))
}

/// Whether an entry might nest deeper than serde_json's recursion limit
/// (128), which the full parse refuses and this one would skip over: with
/// fewer opening brackets than that in all, it cannot.
fn could_nest_too_deep(raw: &str) -> bool {
    raw.bytes().filter(|&b| b == b'[' || b == b'{').count() >= 100
}

/// A JSON string without escapes, unquoted; `None` for anything else.
fn plain(raw: &RawValue) -> Option<&str> {
    let inner = raw.get().strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// [`judge`] on a fully parsed entry: any shape, with a message for each
/// entry it cannot judge.
fn judge_by_value(raw: &str, index: usize, cutoff: &Cutoff) -> Verdict {
    let value: Value = match serde_json::from_str(raw) {
        Ok(value) => value,
        Err(err) => {
            return skip(
                format!("#{index}"),
                format!("unreadable entry ({err}); kept"),
            );
        }
    };
    let Some(entry) = value.as_object() else {
        return skip(
            format!("#{index}"),
            format!("entry is {}, not an object; kept", kind_of(&value)),
        );
    };
    let label = ["id", "operation", "branch"]
        .iter()
        .find_map(|key| match entry.get(*key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        })
        .unwrap_or_else(|| format!("#{index}"));
    let Some(status) = entry
        .get("status")
        .and_then(Value::as_str)
        .filter(|status| TERMINAL.contains(status))
    else {
        return Verdict::Keep;
    };
    // jq's `.updated_at // .enqueued_at`: a null counts as absent.
    let stamp = ["updated_at", "enqueued_at"]
        .into_iter()
        .find_map(|key| entry.get(key).filter(|v| !v.is_null()).map(|v| (key, v)));
    let expired = match stamp {
        None => true,
        Some((key, Value::String(text))) => match text.parse::<Timestamp>() {
            Ok(at) => cutoff.expires(at),
            Err(err) => {
                return skip(label, format!("unparseable {key} {text:?} ({err}); kept"));
            }
        },
        Some((key, other)) => {
            return skip(
                label,
                format!("{key} is {}, not a timestamp; kept", kind_of(other)),
            );
        }
    };
    if expired {
        Verdict::Remove(RemovedEntry {
            label,
            status: status.to_string(),
        })
    } else {
        Verdict::Keep
    }
}

fn skip(item: String, reason: String) -> Verdict {
    Verdict::Skip(Skipped { item, reason })
}

/// The original text without the removed entries.
///
/// Each kept entry is followed by the separator that followed it in the
/// original (`,\n    ` in jq's layout); the last kept one by whatever closed
/// the array, so no trailing comma appears.
fn splice(text: &str, spans: &[(usize, usize)], keep: &[bool]) -> Vec<u8> {
    let kept: Vec<usize> = (0..spans.len()).filter(|&i| keep[i]).collect();
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
        return text.as_bytes().to_vec();
    };
    let mut out = String::with_capacity(text.len());
    if kept.is_empty() {
        // JSON allows only whitespace between the brackets and the entries.
        let open = text[..first.0].trim_end().len().saturating_sub(1);
        let after = &text[last.1..];
        let close = last.1 + (after.len() - after.trim_start().len()) + 1;
        debug_assert!(text[open..].starts_with('[') && text[..close].ends_with(']'));
        out.push_str(&text[..open]);
        out.push_str("[]");
        out.push_str(&text[close..]);
        return out.into_bytes();
    }
    out.push_str(&text[..first.0]);
    for (n, &i) in kept.iter().enumerate() {
        out.push_str(&text[spans[i].0..spans[i].1]);
        if n + 1 < kept.len() {
            out.push_str(&text[spans[i].1..spans[i + 1].0]);
        }
    }
    out.push_str(&text[last.1..]);
    out.into_bytes()
}

/// Where `part`, a slice borrowed from `text`, lies in it.
fn span_of(text: &str, part: &str) -> Result<(usize, usize), Corrupt> {
    let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let end = start.wrapping_add(part.len());
    // RawValue borrows from the input; if that ever changed we must not splice.
    match text.get(start..end) {
        Some(found) if std::ptr::eq(found, part) => Ok((start, end)),
        _ => Err(Corrupt(
            "internal error: entry not found in the text".into(),
        )),
    }
}

/// 1-based line and column (in bytes) of a byte offset.
fn position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = 1 + memchr::memchr_iter(b'\n', before).count();
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    (line, offset - line_start + 1)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The top level of queue.json with its entries split out in the same pass.
struct FastDocument<'a> {
    entries: Option<Vec<&'a RawValue>>,
    duplicate_entries: bool,
}

impl<'de> Deserialize<'de> for FastDocument<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FastDocumentVisitor)
    }
}

struct FastDocumentVisitor;

impl<'de> Visitor<'de> for FastDocumentVisitor {
    type Value = FastDocument<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a merge-queue object like {\"version\":1,\"entries\":[...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut document = FastDocument {
            entries: None,
            duplicate_entries: false,
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "entries" {
                let entries: Vec<&'de RawValue> = map.next_value()?;
                document.duplicate_entries |= document.entries.replace(entries).is_some();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(document)
    }
}

/// The top level of queue.json: an object; only `entries` is looked at.
struct Document<'a> {
    entries: Option<&'a RawValue>,
    duplicate_entries: bool,
}

impl<'de> Deserialize<'de> for Document<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a merge-queue object like {\"version\":1,\"entries\":[...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut document = Document {
            entries: None,
            duplicate_entries: false,
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == "entries" {
                let raw: &'de RawValue = map.next_value()?;
                document.duplicate_entries |= document.entries.replace(raw).is_some();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cutoff() -> Cutoff {
        Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
    }

    fn verdict(entry: &str) -> Verdict {
        judge(entry, 3, &cutoff())
    }

    fn removed(label: &str, status: &str) -> Verdict {
        Verdict::Remove(RemovedEntry {
            label: label.into(),
            status: status.into(),
        })
    }

    #[test]
    fn the_rule_table() {
        let old = "2026-11-28T05:59:59Z";
        let new = "2026-11-28T06:00:01Z";
        let at = "2026-11-28T06:00:00Z";
        let cases: Vec<(String, Verdict)> = vec![
            // Each terminal status goes when old, stays when new.
            (
                format!(r#"{{"id":"a","status":"completed","updated_at":"{old}"}}"#),
                removed("a", "completed"),
            ),
            (
                format!(r#"{{"id":"a","status":"failed","updated_at":"{old}"}}"#),
                removed("a", "failed"),
            ),
            (
                format!(r#"{{"id":"a","status":"conflict","updated_at":"{old}"}}"#),
                removed("a", "conflict"),
            ),
            (
                format!(r#"{{"id":"a","status":"completed","updated_at":"{new}"}}"#),
                Verdict::Keep,
            ),
            // Non-terminal statuses stay however old.
            (
                format!(r#"{{"id":"a","status":"pending","updated_at":"{old}"}}"#),
                Verdict::Keep,
            ),
            (
                format!(r#"{{"id":"a","status":"processing","updated_at":"{old}"}}"#),
                Verdict::Keep,
            ),
            (
                format!(r#"{{"id":"a","status":"merged","updated_at":"{old}"}}"#),
                Verdict::Keep,
            ),
            (
                format!(r#"{{"id":"a","updated_at":"{old}"}}"#),
                Verdict::Keep,
            ),
            (
                format!(r#"{{"id":"a","status":5,"updated_at":"{old}"}}"#),
                Verdict::Keep,
            ),
            // updated_at wins over enqueued_at, both ways.
            (
                format!(
                    r#"{{"id":"a","status":"failed","enqueued_at":"{old}","updated_at":"{new}"}}"#
                ),
                Verdict::Keep,
            ),
            (
                format!(
                    r#"{{"id":"a","status":"failed","enqueued_at":"{new}","updated_at":"{old}"}}"#
                ),
                removed("a", "failed"),
            ),
            // enqueued_at when updated_at is absent or null.
            (
                format!(r#"{{"id":"a","status":"failed","enqueued_at":"{old}"}}"#),
                removed("a", "failed"),
            ),
            (
                format!(r#"{{"id":"a","status":"failed","enqueued_at":"{new}"}}"#),
                Verdict::Keep,
            ),
            (
                format!(
                    r#"{{"id":"a","status":"failed","updated_at":null,"enqueued_at":"{new}"}}"#
                ),
                Verdict::Keep,
            ),
            // Neither timestamp: old.
            (
                r#"{"id":"a","status":"conflict"}"#.into(),
                removed("a", "conflict"),
            ),
            // Exactly at the cutoff is not older than it.
            (
                format!(r#"{{"id":"a","status":"completed","updated_at":"{at}"}}"#),
                Verdict::Keep,
            ),
            (
                r#"{"id":"a","status":"completed","updated_at":"2026-11-28T05:59:59.999Z"}"#.into(),
                removed("a", "completed"),
            ),
            (
                r#"{"id":"a","status":"completed","updated_at":"2026-11-28T07:59:59+02:00"}"#
                    .into(),
                removed("a", "completed"),
            ),
            // Labels: id, else operation, else branch, else the index.
            (
                r#"{"operation":"op","branch":"b","status":"failed"}"#.into(),
                removed("op", "failed"),
            ),
            (
                r#"{"branch":"b","status":"failed"}"#.into(),
                removed("b", "failed"),
            ),
            (
                r#"{"id":null,"status":"failed"}"#.into(),
                removed("#3", "failed"),
            ),
            (
                r#"{"id":42,"status":"failed"}"#.into(),
                removed("42", "failed"),
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(verdict(&entry), expected, "{entry}");
            assert_eq!(judge_by_value(&entry, 3, &cutoff()), expected, "{entry}");
        }
    }

    /// The fast path decides only what the full parse decides the same way.
    #[test]
    fn the_plain_path_agrees_with_the_full_parse() {
        let old = "2026-11-28T05:59:59Z";
        let new = "2026-11-28T06:00:01Z";
        let mut decided = 0;
        let statuses = [
            r#""completed""#,
            r#""failed""#,
            r#""conflict""#,
            r#""pending""#,
            r#""fail\u0065d""#,
            "5",
            "null",
        ];
        let stamps = [
            format!(r#""{old}""#),
            format!(r#""{new}""#),
            r#""2026-11-28T07:59:59+02:00""#.into(),
            r#""soon""#.into(),
            "null".into(),
            "17".into(),
        ];
        let labels = [r#""a""#, r#""\u0061""#, "42", "null"];
        for status in statuses {
            for updated in &stamps {
                for enqueued in &stamps {
                    for label in labels {
                        let deep = format!(r#","meta":{}{}"#, "[".repeat(200), "]".repeat(200));
                        for extra in ["", r#","status":"pending""#, r#","x":{"y":[1]}"#, &deep] {
                            let entry = format!(
                                r#"{{"id":{label},"status":{status},"updated_at":{updated},"enqueued_at":{enqueued}{extra}}}"#
                            );
                            let full = judge_by_value(&entry, 3, &cutoff());
                            if let Some(fast) = judge_plain(&entry, &cutoff()) {
                                decided += 1;
                                assert_eq!(fast, full, "{entry}");
                            }
                        }
                    }
                }
            }
        }
        for entry in ["[1,2]", r#"["completed"]"#, "null", r#""x""#] {
            assert_eq!(judge_plain(entry, &cutoff()), None, "{entry}");
        }
        assert!(decided > 500, "the fast path decided only {decided} cases");
    }

    #[test]
    fn unjudgeable_entries_are_kept_and_reported() {
        let cases = [
            (
                r#"{"id":"a","status":"failed","updated_at":"yesterday"}"#,
                "a",
                "unparseable updated_at",
            ),
            // A bad updated_at is not overridden by a good enqueued_at.
            (
                r#"{"id":"a","status":"failed","updated_at":"","enqueued_at":"2020-01-01T00:00:00Z"}"#,
                "a",
                "unparseable updated_at",
            ),
            (
                r#"{"id":"a","status":"failed","enqueued_at":"2026-11-28 05:00"}"#,
                "a",
                "unparseable enqueued_at",
            ),
            (
                r#"{"id":"a","status":"failed","updated_at":1764300000}"#,
                "a",
                "updated_at is a number",
            ),
            (r#""just a string""#, "#3", "is a string, not an object"),
            ("[1,2]", "#3", "is an array, not an object"),
            ("null", "#3", "is null, not an object"),
        ];
        for (entry, item, reason) in cases {
            match verdict(entry) {
                Verdict::Skip(skipped) => {
                    assert_eq!(skipped.item, item, "{entry}");
                    assert!(
                        skipped.reason.contains(reason),
                        "{entry}: {}",
                        skipped.reason
                    );
                    assert!(
                        skipped.reason.ends_with("kept"),
                        "{entry}: {}",
                        skipped.reason
                    );
                }
                other => panic!("{entry}: {other:?}"),
            }
        }
        // A non-terminal entry's odd timestamp is none of our business.
        assert_eq!(
            verdict(r#"{"status":"pending","updated_at":"soon"}"#),
            Verdict::Keep
        );
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(position(b"abc", 0), (1, 1));
        assert_eq!(position(b"ab\ncd", 4), (2, 2));
        assert_eq!(position(b"ab\n", 3), (2, 1));
    }
}
