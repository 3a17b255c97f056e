//! Cursor pagination of messages and of the conversation list.

use crate::helpers::*;
use serde_json::Value;

/// Follow `next_cursor` from `first_path` until it is null: the bodies (or
/// ids) of each page, read with `field`, and every `next_cursor` seen.
async fn pages(
    t: &TestApp,
    first_path: &str,
    token: &str,
    items: &str,
    field: &str,
) -> (Vec<Vec<String>>, Vec<Value>) {
    let mut out = Vec::new();
    let mut cursors = Vec::new();
    let mut path = first_path.to_string();
    for _ in 0..10 {
        let r = t.get(&path, token).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.json);
        out.push(
            r.json[items]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m[field].as_str().unwrap().to_string())
                .collect(),
        );
        let next = r.json["next_cursor"].clone();
        cursors.push(next.clone());
        match next.as_str() {
            Some(c) => path = format!("{first_path}&cursor={c}"),
            None => return (out, cursors),
        }
    }
    panic!("pagination did not end: {out:?}");
}

async fn chat_with(t: &TestApp, booking: &str, n: usize) -> String {
    let conv = t.create_booking_chat(booking).await;
    for i in 1..=n {
        let tok = if i % 2 == 0 { provider() } else { customer() };
        let r = t.send(&conv, &tok, &format!("m{i}")).await;
        assert_eq!(r.status, 201, "{:?}", r.json);
    }
    conv
}

#[tokio::test]
async fn when_five_messages_are_paged_by_two_ascending_it_should_give_2_2_1_in_order() {
    let t = spawn_app().await;
    let conv = chat_with(&t, "bk_pages", 5).await;

    let (got, cursors) = pages(
        &t,
        &format!("/conversations/{conv}/messages?limit=2&order=asc"),
        &customer(),
        "messages",
        "body",
    )
    .await;
    assert_eq!(got, [vec!["m1", "m2"], vec!["m3", "m4"], vec!["m5"]]);
    assert!(cursors[0].is_string() && cursors[1].is_string());
    assert_eq!(cursors[2], Value::Null);

    // The default order is ascending.
    let (default, _) = pages(
        &t,
        &format!("/conversations/{conv}/messages?limit=2"),
        &customer(),
        "messages",
        "body",
    )
    .await;
    assert_eq!(default, got);
}

#[tokio::test]
async fn when_messages_are_paged_descending_it_should_give_the_newest_first() {
    let t = spawn_app().await;
    let conv = chat_with(&t, "bk_pages", 5).await;

    let (got, cursors) = pages(
        &t,
        &format!("/conversations/{conv}/messages?limit=2&order=desc"),
        &provider(),
        "messages",
        "body",
    )
    .await;
    assert_eq!(got, [vec!["m5", "m4"], vec!["m3", "m2"], vec!["m1"]]);
    assert_eq!(cursors.last().unwrap(), &Value::Null);
}

#[tokio::test]
async fn when_a_page_is_exactly_full_the_next_page_should_still_end_the_list() {
    let t = spawn_app().await;
    let conv = chat_with(&t, "bk_pages", 4).await;
    let (got, _) = pages(
        &t,
        &format!("/conversations/{conv}/messages?limit=2"),
        &customer(),
        "messages",
        "body",
    )
    .await;
    // Possibly an empty last page (documented), but every message once, in order.
    let flat: Vec<String> = got.concat();
    assert_eq!(flat, ["m1", "m2", "m3", "m4"]);
    assert!(got.len() <= 3, "{got:?}");
}

#[tokio::test]
async fn when_conversations_are_paged_it_should_order_them_by_newest_activity() {
    let t = spawn_app().await;
    let a = t.create_booking_chat("bk_list_a").await;
    let b = t.create_booking_chat("bk_list_b").await;
    let c = t.create_booking_chat("bk_list_c").await;

    // Newest created first.
    let (got, cursors) = pages(&t, "/conversations?limit=2", &customer(), "items", "id").await;
    assert_eq!(got, [vec![c.clone(), b.clone()], vec![a.clone()]]);
    assert!(cursors[0].is_string());
    assert_eq!(cursors[1], Value::Null);

    // A new message moves the oldest to the top, for both participants.
    assert_eq!(t.send(&a, &provider(), "news").await.status, 201);
    for tok in [customer(), provider()] {
        let (got, cursors) = pages(&t, "/conversations?limit=2", &tok, "items", "id").await;
        assert_eq!(got, [vec![a.clone(), c.clone()], vec![b.clone()]]);
        assert_eq!(cursors[1], Value::Null);
    }
    let first = t.get("/conversations?limit=2", &customer()).await;
    let top = &first.json["items"][0];
    assert_eq!(top["last_message"]["preview"], "news");
    assert_eq!(top["last_activity_at"], top["last_message"]["created_at"]);
    assert_eq!(top["unread_count"], 1);

    // Then a message in the middle one.
    assert_eq!(t.send(&b, &customer(), "later").await.status, 201);
    let (got, _) = pages(&t, "/conversations?limit=2", &provider(), "items", "id").await;
    assert_eq!(got, [vec![b.clone(), a.clone()], vec![c.clone()]]);
}
