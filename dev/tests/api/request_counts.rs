//! The DynamoDB and Twilio requests each route makes (the cost model in
//! README.md). Exact sequences, so a regression that adds a round trip fails.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

/// `/v1/Conversations/CH0a.../Participants/MB0b...` → `.../{Sid}/Participants/{Sid}`.
fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let sid = seg.len() == 34 && seg[..2].chars().all(|c| c.is_ascii_uppercase());
            if sid { "{Sid}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

struct Counted {
    route: &'static str,
    dynamodb: Vec<String>,
    twilio: Vec<String>,
}

impl TestApp {
    fn take_counts(&self, route: &'static str) -> Counted {
        let twilio = self
            .standin
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, path_shape(&r.path)))
            .collect();
        self.standin.clear_requests();
        Counted {
            route,
            dynamodb: self.dynamo.take(),
            twilio,
        }
    }
}

#[tokio::test]
async fn when_each_route_runs_it_should_make_the_documented_requests() {
    let t = spawn_app().await;
    let (cust, prov, svc) = (customer(), provider(), service());
    let mut rows = Vec::new();

    let r = t
        .post("/conversations", &cust, booking_body("bk_cost"))
        .await;
    assert_eq!(r.status, 201);
    let conv = r.json["id"].as_str().unwrap().to_string();
    rows.push(t.take_counts("POST /conversations (new)"));
    let r = t
        .post("/conversations", &cust, booking_body("bk_cost"))
        .await;
    assert_eq!(r.status, 200);
    rows.push(t.take_counts("POST /conversations (existing)"));
    let r = t.send(&conv, &cust, "hello").await;
    assert_eq!(r.status, 201);
    rows.push(t.take_counts("POST /conversations/{id}/messages"));
    let r = t
        .call(
            Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(&cust),
            Some(json!({"body": "again"})),
            &[("Idempotency-Key", "k1")],
        )
        .await;
    assert_eq!(r.status, 201);
    rows.push(t.take_counts("POST /conversations/{id}/messages + Idempotency-Key"));
    assert_eq!(t.get("/conversations", &prov).await.status, 200);
    rows.push(t.take_counts("GET /conversations"));
    assert_eq!(
        t.get(&format!("/conversations/{conv}"), &prov).await.status,
        200
    );
    rows.push(t.take_counts("GET /conversations/{id}"));
    assert_eq!(
        t.get(&format!("/conversations/{conv}/messages"), &prov)
            .await
            .status,
        200
    );
    rows.push(t.take_counts("GET /conversations/{id}/messages"));
    let r = t
        .call(
            Method::POST,
            &format!("/conversations/{conv}/read"),
            Some(&prov),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    rows.push(t.take_counts("POST /conversations/{id}/read"));
    assert_eq!(t.get("/me/unread", &prov).await.status, 200);
    rows.push(t.take_counts("GET /me/unread"));
    let r = t
        .get(&format!("/conversations/{conv}/participants"), &prov)
        .await;
    assert_eq!(r.status, 200);
    rows.push(t.take_counts("GET /conversations/{id}/participants"));
    let r = t
        .post(
            &format!("/conversations/{conv}/participants"),
            &svc,
            json!({"user_id": "prov_2", "user_type": "provider"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    rows.push(t.take_counts("POST /conversations/{id}/participants"));
    let r = t
        .call(
            Method::DELETE,
            &format!("/conversations/{conv}/participants/prov_2"),
            Some(&svc),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    rows.push(t.take_counts("DELETE /conversations/{id}/participants/{user_id}"));

    println!("| route | DynamoDB requests | Twilio requests |\n|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} ({}) | {} ({}) |",
            r.route,
            r.dynamodb.len(),
            r.dynamodb.join(", "),
            r.twilio.len(),
            r.twilio.join(", ")
        );
    }

    let expect = [
        (
            "POST /conversations (new)",
            &["Query", "TransactWriteItems"][..],
            2,
        ),
        ("POST /conversations (existing)", &["Query"][..], 0),
        (
            "POST /conversations/{id}/messages",
            &["Query", "TransactWriteItems"][..],
            1,
        ),
        (
            "POST /conversations/{id}/messages + Idempotency-Key",
            &["Query", "PutItem", "TransactWriteItems"][..],
            1,
        ),
        ("GET /conversations", &["Query", "BatchGetItem"][..], 0),
        ("GET /conversations/{id}", &["Query"][..], 0),
        (
            "GET /conversations/{id}/messages",
            &["Query", "Query"][..],
            0,
        ),
        (
            "POST /conversations/{id}/read",
            &["Query", "TransactWriteItems"][..],
            1,
        ),
        ("GET /me/unread", &["GetItem"][..], 0),
        ("GET /conversations/{id}/participants", &["Query"][..], 0),
        (
            "POST /conversations/{id}/participants",
            &["Query", "TransactWriteItems"][..],
            1,
        ),
        (
            "DELETE /conversations/{id}/participants/{user_id}",
            &["Query", "TransactWriteItems"][..],
            1,
        ),
    ];
    for ((route, dynamo, twilio), row) in expect.iter().zip(&rows) {
        assert_eq!(*route, row.route);
        let mut got = row.dynamodb.clone();
        got.sort();
        let mut want: Vec<String> = dynamo.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{route}: DynamoDB requests");
        assert_eq!(
            row.twilio.len(),
            *twilio,
            "{route}: Twilio requests {:?}",
            row.twilio
        );
    }
}
