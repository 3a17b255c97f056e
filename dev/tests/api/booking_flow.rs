use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn when_customer_and_provider_chat_it_should_track_unread_and_read_horizons() {
    let t = spawn_app().await;
    let (cust, prov) = (customer(), provider());

    // Customer opens the booking conversation and writes.
    let conv = t.create_booking_chat("bk_seed").await;
    let sent = t.send(&conv, &cust, "When will you arrive?").await;
    assert_eq!(sent.status, 201, "{:?}", sent.json);
    let first_id = sent.json["id"].as_str().unwrap().to_string();

    // Provider lists conversations: it is there, with unread 1.
    let list = t.get("/conversations", &prov).await;
    assert_eq!(list.status, 200);
    let item = &list.json["items"][0];
    assert_eq!(item["id"], conv.as_str());
    assert_eq!(item["booking_id"], "bk_seed");
    assert_eq!(item["unread_count"], 1);
    assert_eq!(item["last_message"]["preview"], "When will you arrive?");
    assert_eq!(t.get("/me/unread", &prov).await.json["unread_count"], 1);

    // Provider reads the messages and marks read.
    let msgs = t
        .get(&format!("/conversations/{conv}/messages"), &prov)
        .await;
    assert_eq!(msgs.json["messages"].as_array().unwrap().len(), 1);
    let read = t
        .call(
            Method::POST,
            &format!("/conversations/{conv}/read"),
            Some(&prov),
            None,
            &[],
        )
        .await;
    assert_eq!(read.status, 200, "{:?}", read.json);
    assert_eq!(read.json["unread_count"], 0);
    assert_eq!(t.get("/me/unread", &prov).await.json["unread_count"], 0);
    assert_eq!(
        t.get("/conversations", &prov).await.json["items"][0]["unread_count"],
        0
    );

    // Customer sees the provider's read horizon; Twilio got the index too.
    let detail = t.get(&format!("/conversations/{conv}"), &cust).await;
    let provider_view = detail.json["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == "prov_1")
        .unwrap()
        .clone();
    assert_eq!(provider_view["last_read_message_id"], first_id.as_str());
    assert!(provider_view["last_read_at"].is_string());
    let twilio_sid = detail.json["twilio_conversation_sid"].as_str().unwrap();
    assert_eq!(t.standin.last_read_index(twilio_sid, "prov_1"), Some(0));

    // Provider replies; the customer sees both, in order, with unread 1.
    let reply = t.send(&conv, &prov, "I'll be there at 2 PM").await;
    assert_eq!(reply.status, 201);
    let msgs = t
        .get(&format!("/conversations/{conv}/messages"), &cust)
        .await;
    let bodies: Vec<&str> = msgs.json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["When will you arrive?", "I'll be there at 2 PM"]);
    let horizons = msgs.json["read_horizons"].as_array().unwrap();
    assert_eq!(horizons.len(), 2);
    assert_eq!(
        t.get("/conversations", &cust).await.json["items"][0]["unread_count"],
        1
    );
    assert_eq!(t.get("/me/unread", &cust).await.json["unread_count"], 1);

    // Analytics follow.
    let detail = t.get(&format!("/conversations/{conv}"), &cust).await;
    let a = &detail.json["analytics"];
    assert_eq!(a["message_count"], 2);
    assert_eq!(a["participant_count"], 2);
    assert!(a["first_message_at"].is_string());
    assert!(a["average_response_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(a["first_response_seconds"], a["average_response_seconds"]);
    assert_eq!(t.standin.message_count(twilio_sid), 2);
    let _ = json!({});
}
