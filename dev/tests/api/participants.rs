//! Adding and removing participants: who may, what they see afterwards and
//! what happens to their unread counts.

use crate::helpers::*;
use serde_json::{Value, json};
use shared::auth::UserType;

fn cust2() -> String {
    token("cust_2", UserType::Customer)
}

fn participant<'a>(list: &'a Value, user: &str) -> &'a Value {
    list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == user)
        .unwrap_or_else(|| panic!("{user} not in {list}"))
}

async fn add_cust2(t: &TestApp, conv: &str) -> Resp {
    t.post(
        &format!("/conversations/{conv}/participants"),
        &service(),
        json!({"user_id": "cust_2", "user_type": "customer", "display_name": "Cara"}),
    )
    .await
}

async fn twilio_identities(t: &TestApp, conv: &str) -> Vec<String> {
    let sid = t.twilio_sid(conv).await;
    let mut ids: Vec<String> = t
        .app
        .twilio
        .list_participants(&sid)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|p| p.identity)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn when_a_service_adds_a_participant_it_should_be_201_then_200_and_visible_to_them() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_parts").await;
    assert!(t.get("/conversations", &cust2()).await.json["items"] == json!([]));

    let added = add_cust2(&t, &conv).await;
    assert_eq!(added.status, 201, "{:?}", added.json);
    assert_eq!(added.json["user_id"], "cust_2");
    assert_eq!(added.json["user_type"], "customer");
    assert_eq!(added.json["display_name"], "Cara");
    assert_eq!(added.json["is_active"], true);

    let again = add_cust2(&t, &conv).await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["joined_at"], added.json["joined_at"]);

    // The new participant now sees it.
    let list = t.get("/conversations", &cust2()).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["items"][0]["id"], conv.as_str());
    assert_eq!(
        t.get(&format!("/conversations/{conv}"), &cust2())
            .await
            .status,
        200
    );

    let parts = t
        .get(&format!("/conversations/{conv}/participants"), &customer())
        .await;
    assert_eq!(parts.status, 200);
    assert_eq!(parts.json["participants"].as_array().unwrap().len(), 3);
    assert_eq!(participant(&parts.json, "cust_2")["is_active"], true);
    let detail = t.get(&format!("/conversations/{conv}"), &customer()).await;
    assert_eq!(detail.json["analytics"]["participant_count"], 3);
    assert_eq!(
        twilio_identities(&t, &conv).await,
        ["cust_1", "cust_2", "prov_1"]
    );

    // Messages now count for them too.
    assert_eq!(t.send(&conv, &provider(), "welcome").await.status, 201);
    assert_eq!(t.unread_total(&cust2()).await, 1);
}

#[tokio::test]
async fn when_a_participant_removes_themself_it_should_be_204_and_hide_the_conversation() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_parts").await;
    assert_eq!(add_cust2(&t, &conv).await.status, 201);

    let left = t
        .delete(
            &format!("/conversations/{conv}/participants/cust_2"),
            &cust2(),
        )
        .await;
    assert_eq!(left.status, 204, "{:?}", left.json);

    for path in [
        format!("/conversations/{conv}"),
        format!("/conversations/{conv}/messages"),
        format!("/conversations/{conv}/participants"),
    ] {
        assert_error(&t.get(&path, &cust2()).await, 404, "not_found");
    }
    assert_error(
        &t.send(&conv, &cust2(), "still here?").await,
        404,
        "not_found",
    );
    assert_eq!(
        t.get("/conversations", &cust2()).await.json["items"],
        json!([])
    );

    let parts = t
        .get(&format!("/conversations/{conv}/participants"), &provider())
        .await;
    let gone = participant(&parts.json, "cust_2");
    assert_eq!(gone["is_active"], false);
    assert!(gone["left_at"].is_string(), "{gone}");
    assert_eq!(participant(&parts.json, "cust_1")["left_at"], Value::Null);
    let detail = t.get(&format!("/conversations/{conv}"), &provider()).await;
    assert_eq!(detail.json["analytics"]["participant_count"], 2);
    assert_eq!(twilio_identities(&t, &conv).await, ["cust_1", "prov_1"]);
    // The summary in the list shows only active participants.
    let summary = t.get("/conversations", &provider()).await;
    let users: Vec<&str> = summary.json["items"][0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["cust_1", "prov_1"]);
}

#[tokio::test]
async fn when_a_participant_removes_someone_else_it_should_be_403_cannot_remove_others() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_parts").await;
    let r = t
        .delete(
            &format!("/conversations/{conv}/participants/prov_1"),
            &customer(),
        )
        .await;
    assert_error(&r, 403, "cannot_remove_others");
    let parts = t
        .get(&format!("/conversations/{conv}/participants"), &customer())
        .await;
    assert_eq!(participant(&parts.json, "prov_1")["is_active"], true);
    assert_eq!(
        t.get(&format!("/conversations/{conv}"), &provider())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn when_a_service_removes_a_participant_it_should_be_204_and_again_204() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_parts").await;
    assert_eq!(add_cust2(&t, &conv).await.status, 201);
    let path = format!("/conversations/{conv}/participants/cust_2");

    let first = t.delete(&path, &service()).await;
    assert_eq!(first.status, 204, "{:?}", first.json);
    let second = t.delete(&path, &service()).await;
    assert_eq!(second.status, 204, "{:?}", second.json);

    let parts = t
        .get(&format!("/conversations/{conv}/participants"), &service())
        .await;
    assert_eq!(participant(&parts.json, "cust_2")["is_active"], false);
    let detail = t.get(&format!("/conversations/{conv}"), &service()).await;
    assert_eq!(detail.json["analytics"]["participant_count"], 2);
    assert_error(
        &t.get(&format!("/conversations/{conv}"), &cust2()).await,
        404,
        "not_found",
    );
    // Someone who never took part is not found.
    let never = t
        .delete(
            &format!("/conversations/{conv}/participants/nobody"),
            &service(),
        )
        .await;
    assert_error(&never, 404, "not_found");
}

#[tokio::test]
async fn when_a_participant_is_removed_their_unread_should_no_longer_count() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_parts").await;
    let other = t.create_booking_chat("bk_parts_other").await;
    for body in ["one", "two"] {
        assert_eq!(t.send(&conv, &customer(), body).await.status, 201);
    }
    assert_eq!(t.send(&other, &customer(), "elsewhere").await.status, 201);
    assert_eq!(t.unread_total(&provider()).await, 3);

    let removed = t
        .delete(
            &format!("/conversations/{conv}/participants/prov_1"),
            &service(),
        )
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.json);
    // Only the other conversation's unread remains.
    assert_eq!(t.unread_total(&provider()).await, 1);

    // Later messages do not count for them either.
    assert_eq!(t.send(&conv, &customer(), "three").await.status, 201);
    assert_eq!(t.unread_total(&provider()).await, 1);
    let list = t.get("/conversations", &provider()).await;
    let ids: Vec<&str> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [other.as_str()]);
}

/// Issue 8 item 3: a participant adding someone would leak the whole
/// history to them; only service tokens add participants.
#[tokio::test]
async fn when_a_participant_adds_someone_it_should_be_403_and_nobody_added() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_parts_add").await;
    for token in [customer(), provider()] {
        let r = t
            .post(
                &format!("/conversations/{conv}/participants"),
                &token,
                json!({"user_id": "cust_2", "user_type": "customer"}),
            )
            .await;
        assert_error(&r, 403, "service_only");
    }
    assert_error(
        &t.get(&format!("/conversations/{conv}"), &cust2()).await,
        404,
        "not_found",
    );
    assert_eq!(twilio_identities(&t, &conv).await, ["cust_1", "prov_1"]);
    // A participant may still leave.
    let left = t
        .delete(
            &format!("/conversations/{conv}/participants/cust_1"),
            &customer(),
        )
        .await;
    assert_eq!(left.status, 204, "{:?}", left.json);
}
