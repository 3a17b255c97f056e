//! `X-Twilio-Signature` validation against the cases collected from the
//! official Twilio SDKs' test suites (`tests/data/twilio-signature.json`).

use serde::Deserialize;
use shared::signature::{SignedBody, is_valid};

const VECTORS: &str = include_str!("data/twilio-signature.json");
const CASE_COUNT: usize = 36;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    auth_token: String,
    url: String,
    form_params: Vec<(String, String)>,
    raw_body: Option<String>,
    signature: String,
    valid: bool,
}

impl Case {
    fn check(&self, tokens: &[&str]) -> bool {
        let body = match &self.raw_body {
            Some(raw) => SignedBody::Json(raw.as_bytes()),
            None => SignedBody::Form(&self.form_params),
        };
        is_valid(tokens, &self.url, body, &self.signature)
    }
}

fn cases() -> Vec<Case> {
    match serde_json::from_str::<Vectors>(VECTORS) {
        Ok(vectors) => vectors.cases,
        Err(e) => panic!("tests/data/twilio-signature.json does not parse: {e}"),
    }
}

/// Every case whose outcome differs from `valid`, as one readable line each.
fn mismatches(tokens_for: impl Fn(&Case) -> Vec<&str>) -> Vec<String> {
    cases()
        .iter()
        .filter_map(|case| {
            let got = case.check(&tokens_for(case));
            (got != case.valid)
                .then(|| format!("{:?}: expected valid={}, got {got}", case.name, case.valid))
        })
        .collect()
}

#[test]
fn the_vector_file_should_hold_all_36_cases() {
    assert_eq!(cases().len(), CASE_COUNT);
}

#[test]
fn every_vector_should_give_exactly_its_expected_answer() {
    let wrong = mismatches(|case| vec![case.auth_token.as_str()]);
    assert!(
        wrong.is_empty(),
        "{} of {CASE_COUNT} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(cases().len(), CASE_COUNT);
}

#[test]
fn every_vector_should_give_the_same_answer_during_token_rotation() {
    // The signing token listed second, after a retired one.
    let wrong = mismatches(|case| vec!["retired-token", case.auth_token.as_str()]);
    assert!(
        wrong.is_empty(),
        "{} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn no_vector_should_validate_under_another_token() {
    let accepted: Vec<String> = cases()
        .iter()
        .filter(|case| case.check(&["54321"]))
        .map(|case| case.name.clone())
        .collect();
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}
