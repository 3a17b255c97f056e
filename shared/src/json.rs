//! JSON helpers for the hot paths.

/// `serde_json::from_slice`, with the bytes checked as UTF-8 once up front
/// (the standard library's check runs a word at a time over ASCII) so that
/// serde_json reads them as text and does not check each string it parses
/// again. Bytes that are not UTF-8 go to `from_slice`, so the answer, or
/// the error, is `from_slice`'s either way.
pub fn from_bytes<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// `serde_json::to_vec` into a buffer sized for a typical request, so a
/// body of a few KB grows once or twice instead of doubling from 8 bytes.
pub fn to_vec(value: &impl serde::Serialize) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(2048);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn it_should_read_what_from_slice_reads_and_fail_where_it_fails() {
        let cases: [&[u8]; 7] = [
            br#"{"a":"b\u00e9\n","c":[1,2.5,null,true],"d":{"e":"\ud83d\ude00"}}"#,
            "{\"a\":\"caf\u{e9} \u{1f600}\"}".as_bytes(),
            b"{\"a\":\"\xff\"}",
            b"{\"a\":1}\xff",
            br#"{"a":"\ud800"}"#,
            b"{\"a\":",
            b"",
        ];
        for bytes in cases {
            let ours = super::from_bytes::<Value>(bytes);
            let theirs = serde_json::from_slice::<Value>(bytes);
            match (ours, theirs) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => assert_eq!(a.classify(), b.classify(), "{bytes:?}"),
                (a, b) => panic!("{bytes:?}: {a:?} against {b:?}"),
            }
        }
    }

    #[test]
    fn to_vec_should_write_what_serde_json_writes() {
        let value = serde_json::json!({"a": "b\"\n", "c": [1, 2.5], "d": "x".repeat(5000)});
        assert_eq!(
            super::to_vec(&value).unwrap(),
            serde_json::to_vec(&value).unwrap()
        );
    }
}
