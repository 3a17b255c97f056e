//! Real-time push over the local WebSocket API with a real WebSocket
//! client: the table's stream (moto's DynamoDB Streams) feeds the `push`
//! function, which posts through the real `aws-sdk-apigatewaymanagement`
//! client to the gateway's `@connections` endpoint. Who receives what must
//! be exactly who the HTTP API shows the data to.

use crate::helpers::*;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use shared::auth::UserType;
use shared::connections::{Connection, ConnectionStore};
use shared::inbox::inbox_conversation_id;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(15);

fn ws_url(t: &TestApp, query: &str) -> String {
    format!("{}/ws{query}", t.base.replace("http://", "ws://"))
}

async fn connect(t: &TestApp, token: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(t, &format!("?token={token}")))
        .await
        .expect("the socket should be accepted");
    ws
}

/// The HTTP status and JSON body a refused upgrade answered with.
async fn refused(t: &TestApp, query: &str) -> (u16, Value) {
    match tokio_tungstenite::connect_async(ws_url(t, query)).await {
        Ok(_) => panic!("the socket should have been refused"),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            (resp.status().as_u16(), body)
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// The next text frame, as JSON (fails after `WAIT`).
async fn next_frame(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no frame arrived in time")
            .expect("the socket closed")
            .expect("socket error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("a JSON frame");
        }
    }
}

/// Frames until one of `kind` arrives; returns it and those skipped.
async fn frame_of(ws: &mut Ws, kind: &str) -> (Value, Vec<Value>) {
    frame_where(ws, |f| f["type"] == kind).await
}

/// Frames until one matches; returns it and those skipped.
async fn frame_where(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
    let mut skipped = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let Ok(msg) = tokio::time::timeout_at(deadline, ws.next()).await else {
            panic!("the awaited frame never came; got only {skipped:?}");
        };
        let Message::Text(text) = msg.expect("the socket closed").expect("socket error") else {
            continue;
        };
        let f: Value = serde_json::from_str(&text).expect("a JSON frame");
        if pred(&f) {
            return (f, skipped);
        }
        skipped.push(f);
    }
}

/// A booking chat opened by the booking system for `customer` and `provider`.
async fn booking_chat(t: &TestApp, booking: &str, customer: &str, provider: &str) -> String {
    let r = t
        .post(
            "/conversations",
            &service(),
            json!({
                "booking_id": booking,
                "participants": [
                    {"user_id": customer, "user_type": "customer", "display_name": "C"},
                    {"user_id": provider, "user_type": "provider", "display_name": "P"}
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    r.json["id"].as_str().unwrap().to_string()
}

/// A message was just stored in the stranger's own conversation, after
/// everything the stranger must not see was already delivered to its
/// recipients. Every frame up to that message's must be the stranger's
/// own: a frame leaked to this socket would have been queued before it
/// (a barrier, not a sleep).
async fn assert_first_frame_is_own(ws: &mut Ws, own_conv: &str, what: &str) {
    loop {
        let f = next_frame(ws).await;
        assert_eq!(
            f["conversation_id"], own_conv,
            "{what} received another conversation's event: {f}"
        );
        if f["type"] == "message.created" {
            return;
        }
    }
}

async fn drain_until(t: &TestApp, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        t.drain().await;
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition never held");
}

#[tokio::test]
async fn when_a_participant_sends_both_participants_and_nobody_else_should_receive_it() {
    let t = spawn_app_push().await;
    let conv = booking_chat(&t, "bk_rt_1", "cust_1", "prov_1").await;
    let own = booking_chat(&t, "bk_rt_own", "cust_x", "prov_x").await;
    t.register_number("whatsapp:+15550009999", "org_rt").await;
    let mut cust = connect(&t, &customer()).await;
    let mut prov = connect(&t, &provider()).await;
    let stranger_token = token("cust_x", UserType::Customer);
    let mut stranger = connect(&t, &stranger_token).await;
    let agent = agent_of("agent_rt", "org_rt");
    let mut agent_ws = connect(&t, &agent).await;

    let sent = t.send(&conv, &customer(), "is 10:00 fine?").await;
    assert_eq!(sent.status, 201, "{:?}", sent.json);
    let id = sent.json["id"].as_str().unwrap().to_string();
    let stored = t.messages(&conv, &provider()).await;

    for ws in [&mut prov, &mut cust] {
        // Opening the chat pushed participant.joined first.
        let (f, before) = frame_of(ws, "message.created").await;
        assert!(
            before.iter().all(|b| b["type"] == "participant.joined"),
            "{before:?}"
        );
        assert_eq!(f["conversation_id"], conv.as_str());
        assert_eq!(f["data"]["id"], id.as_str());
        // The same view the HTTP API returns, field for field.
        assert_eq!(f["data"], stored[0], "frame {f} vs HTTP {}", stored[0]);
        assert_eq!(f["at"], stored[0]["created_at"]);
        assert!(chrono::DateTime::parse_from_rfc3339(f["at"].as_str().unwrap()).is_ok());
    }

    // A read receipt: the provider reads, the customer sees it.
    assert_eq!(t.mark_read(&conv, &provider()).await.status, 200);
    // (Sending moved the customer's own horizon first.)
    let (read, _) = frame_where(&mut cust, |f| {
        f["type"] == "conversation.read" && f["data"]["user_id"] == "prov_1"
    })
    .await;
    assert_eq!(read["conversation_id"], conv.as_str());
    assert_eq!(read["data"]["last_read_message_id"], id.as_str());

    // Neither the stranger nor another org's agent received any of it.
    assert_eq!(t.send(&own, &stranger_token, "mine").await.status, 201);
    assert_first_frame_is_own(&mut stranger, &own, "a stranger").await;
    t.inbound(
        "whatsapp:+15551110000",
        "whatsapp:+15550009999",
        "hi org_rt",
    )
    .await;
    t.drain().await;
    let agent_conv = inbox_conversation_id("org_rt", "twilio", "whatsapp", "whatsapp:+15551110000");
    assert_first_frame_is_own(&mut agent_ws, &agent_conv, "an agent").await;
}

#[tokio::test]
async fn when_a_whatsapp_message_arrives_the_orgs_agents_and_only_they_should_receive_it_then_the_replys_statuses()
 {
    let t = spawn_app_push().await;
    let (org_a, org_b) = ("org_rt_a", "org_rt_b");
    let (num_a, num_b) = ("whatsapp:+15550001001", "whatsapp:+15550001002");
    t.register_number(num_a, org_a).await;
    t.register_number(num_b, org_b).await;
    let agent1 = agent_of("agent_a1", org_a);
    let mut a1_phone = connect(&t, &agent1).await;
    let mut a1_laptop = connect(&t, &agent1).await;
    let mut a2 = connect(&t, &agent_of("agent_a2", org_a)).await;
    let mut b1 = connect(&t, &agent_of("agent_b1", org_b)).await;
    let mut cust = connect(&t, &customer()).await;
    let contact = "whatsapp:+15557770000";

    // The signed webhook, answered, queued, processed.
    let sid = t.inbound(contact, num_a, "do you open on Sunday?").await;
    t.drain().await;
    let conv = inbox_conversation_id(org_a, "twilio", "whatsapp", contact);
    let stored = t.messages(&conv, &agent1).await;
    for ws in [&mut a1_phone, &mut a1_laptop, &mut a2] {
        let f = next_frame(ws).await;
        assert_eq!(f["type"], "message.created", "{f}");
        assert_eq!(f["conversation_id"], conv.as_str());
        assert_eq!(f["data"]["twilio_message_sid"], sid.as_str());
        assert_eq!(f["data"]["author_type"], "contact");
        assert_eq!(f["data"], stored[0]);
    }

    // The agent's reply: created, then its delivery statuses as Twilio's
    // callbacks come back through the pipeline.
    let r = t
        .post(
            &format!("/conversations/{conv}/messages"),
            &agent1,
            json!({"body": "yes, 10 to 4"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    let reply = r.json["id"].as_str().unwrap().to_string();
    let (created, _) = frame_of(&mut a2, "message.created").await;
    assert_eq!(created["data"]["id"], reply.as_str());
    let mut statuses = Vec::new();
    drain_until(&t, async || {
        let msgs = t.messages(&conv, &agent1).await;
        msgs.iter()
            .any(|m| m["id"] == reply.as_str() && m["status"] == "read")
    })
    .await;
    while statuses.last().map(String::as_str) != Some("read") {
        let (f, _) = frame_of(&mut a2, "message.status").await;
        assert_eq!(f["data"]["id"], reply.as_str(), "{f}");
        statuses.push(f["data"]["status"].as_str().unwrap().to_string());
    }
    // Forward only, each status once.
    let rank = |s: &str| {
        ["queued", "sending", "sent", "delivered", "read"]
            .iter()
            .position(|x| *x == s)
    };
    assert!(
        statuses.windows(2).all(|w| rank(&w[0]) < rank(&w[1])),
        "{statuses:?}"
    );

    // The inbox read: the other agents see who read it.
    assert_eq!(t.mark_read(&conv, &agent1).await.status, 200);
    let (read, _) = frame_of(&mut a1_laptop, "conversation.read").await;
    assert_eq!(read["data"]["user_id"], "agent_a1");

    // Org B's agent and a customer saw none of org A's inbox.
    t.inbound("whatsapp:+15557770001", num_b, "hello B").await;
    t.drain().await;
    let conv_b = inbox_conversation_id(org_b, "twilio", "whatsapp", "whatsapp:+15557770001");
    assert_first_frame_is_own(&mut b1, &conv_b, "another org's agent").await;
    let own = booking_chat(&t, "bk_rt_c", "cust_1", "prov_9").await;
    assert_eq!(t.send(&own, &customer(), "mine").await.status, 201);
    assert_first_frame_is_own(&mut cust, &own, "a customer").await;
}

#[tokio::test]
async fn when_participants_join_leave_and_the_status_changes_the_active_participants_should_see_it()
{
    let t = spawn_app_push().await;
    let conv = booking_chat(&t, "bk_rt_2", "cust_1", "prov_1").await;
    let mut cust = connect(&t, &customer()).await;
    let cust2_token = token("cust_2", UserType::Customer);
    let mut cust2 = connect(&t, &cust2_token).await;

    let added = t
        .post(
            &format!("/conversations/{conv}/participants"),
            &service(),
            json!({"user_id": "cust_2", "user_type": "customer", "display_name": "Cara"}),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.json);
    for ws in [&mut cust, &mut cust2] {
        let (f, _) = frame_where(ws, |f| {
            f["type"] == "participant.joined" && f["data"]["user_id"] == "cust_2"
        })
        .await;
        assert_eq!(f["data"]["is_active"], true);
    }

    let patched = t
        .call(
            Method::PATCH,
            &format!("/conversations/{conv}"),
            Some(&provider()),
            Some(json!({"status": "escalated"})),
            &[],
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.json);
    let (f, _) = frame_of(&mut cust, "conversation.updated").await;
    assert_eq!(f["data"]["status"], "escalated");
    assert_eq!(f["data"]["id"], conv.as_str());
    // The recipient's own view (their unread count), as GET shows it.
    let detail = t.get(&format!("/conversations/{conv}"), &customer()).await;
    assert_eq!(f["data"]["unread_count"], detail.json["unread_count"]);

    let left = t
        .delete(
            &format!("/conversations/{conv}/participants/cust_2"),
            &cust2_token,
        )
        .await;
    assert_eq!(left.status, 204, "{:?}", left.json);
    let (f, _) = frame_of(&mut cust, "participant.left").await;
    assert_eq!(f["data"]["user_id"], "cust_2");
    assert_eq!(f["data"]["is_active"], false);

    // cust_2 left: later messages are not theirs to see.
    assert_eq!(
        t.send(&conv, &customer(), "after cust_2 left").await.status,
        201
    );
    let (f, _) = frame_of(&mut cust, "message.created").await;
    assert_eq!(f["data"]["body"], "after cust_2 left");
    let own = booking_chat(&t, "bk_rt_3", "cust_2", "prov_3").await;
    assert_eq!(t.send(&own, &cust2_token, "mine").await.status, 201);
    let mut seen = Vec::new();
    loop {
        let f = next_frame(&mut cust2).await;
        if f["conversation_id"] == own.as_str() {
            break;
        }
        seen.push(f);
    }
    // Before leaving cust_2 saw the join and the status change; never the
    // message sent after.
    assert!(
        seen.iter()
            .all(|f| f["type"] != "message.created" && f["type"] != "participant.left"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn when_a_socket_is_gone_the_push_should_forget_it_on_410_and_still_reach_the_live_one() {
    let t = spawn_app_push().await;
    let conv = booking_chat(&t, "bk_rt_410", "cust_1", "prov_1").await;
    let mut prov = connect(&t, &provider()).await;
    // A connection whose $disconnect was lost: stored, no socket behind it.
    let now = t.app.clock.now();
    let stale = Connection {
        id: "StaleConnId0=".into(),
        user_id: "prov_1".into(),
        user_type: UserType::Provider,
        org_id: None,
        connected_at: shared::clock::format_ts(now),
        expires_at: now.timestamp() + 7200,
    };
    t.app.store.put_connection(&stale).await.unwrap();
    assert_eq!(
        t.app.store.user_connections("prov_1").await.unwrap().len(),
        2
    );

    assert_eq!(
        t.send(&conv, &customer(), "anyone there?").await.status,
        201
    );
    let (f, _) = frame_of(&mut prov, "message.created").await;
    assert_eq!(f["data"]["body"], "anyone there?");
    // The push forgets a gone socket once the event's posts are answered,
    // so just after the live socket's frame: wait for it (bounded).
    let deadline = tokio::time::Instant::now() + WAIT;
    let ids = loop {
        let ids = t.app.store.user_connections("prov_1").await.unwrap();
        if ids.len() < 2 || tokio::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        ids.len(),
        1,
        "the gone connection should be forgotten: {ids:?}"
    );
    assert!(!ids.contains(&stale.id));
    assert!(t.pushed.as_ref().unwrap().lock().unwrap().gone >= 1);

    // Closing a socket removes its connection ($disconnect).
    assert_eq!(t.ws.open_connections().len(), 1);
    prov.close(None).await.unwrap();
    for _ in 0..100 {
        if t.app
            .store
            .user_connections("prov_1")
            .await
            .unwrap()
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("$disconnect did not remove the connection");
}

#[tokio::test]
async fn when_the_token_is_expired_forged_missing_or_a_services_the_socket_should_be_refused_and_nothing_stored()
 {
    let t = spawn_app_push().await;
    let expired = token_expired("cust_1", UserType::Customer);
    let forged = token_signed_with(
        "another-secret-0123456789abcdef0123",
        "cust_1",
        UserType::Customer,
    );
    for (query, status) in [
        (format!("?token={expired}"), 401),
        (format!("?token={forged}"), 401),
        ("?token=not.a.jwt".to_string(), 401),
        (String::new(), 401),
        (format!("?token={}", service()), 403),
    ] {
        let (got, body) = refused(&t, &query).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    assert!(
        t.app
            .store
            .user_connections("cust_1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        t.app
            .store
            .user_connections("booking-system")
            .await
            .unwrap()
            .is_empty()
    );

    // Browsers may carry the token as a subprotocol instead; the server
    // selects messaging.v1 and never echoes the token.
    let mut req = ws_url(&t, "").into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("messaging.v1, bearer.{}", customer())
            .parse()
            .unwrap(),
    );
    let (_ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("accepted");
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "messaging.v1"
    );
    assert_eq!(
        t.app.store.user_connections("cust_1").await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn when_a_client_pings_it_should_get_a_pong_and_an_unknown_action_an_error() {
    let t = spawn_app_push().await;
    let mut ws = connect(&t, &customer()).await;
    ws.send(Message::Text(r#"{"action":"ping"}"#.into()))
        .await
        .unwrap();
    let f = next_frame(&mut ws).await;
    assert_eq!(f["type"], "pong", "{f}");
    for junk in [
        r#"{"action":"subscribe"}"#,
        "not json",
        r#"{"action":"$connect"}"#,
    ] {
        ws.send(Message::Text(junk.into())).await.unwrap();
        let f = next_frame(&mut ws).await;
        assert_eq!(f["type"], "error", "{junk}: {f}");
        assert_eq!(f["error"]["code"], "unknown_action");
    }
    // Still open.
    ws.send(Message::Text(r#"{"action":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut ws).await["type"], "pong");
}

#[tokio::test]
async fn when_100_messages_are_sent_in_a_burst_the_other_participant_should_get_each_once_in_order()
{
    let t = spawn_app_push().await;
    let conv = booking_chat(&t, "bk_rt_burst", "cust_1", "prov_1").await;
    let mut prov = connect(&t, &provider()).await;
    // Four writers at once, 25 messages each.
    let sends = (0..4).map(|w| {
        let t = &t;
        let conv = conv.clone();
        async move {
            for i in 0..25 {
                let key = format!("burst-{w}-{i}");
                loop {
                    let r = t
                        .send_with_key(&conv, &customer(), &format!("m{w}-{i}"), &key)
                        .await;
                    match r.status.as_u16() {
                        200 | 201 => break,
                        409 | 503 => tokio::time::sleep(Duration::from_millis(20)).await,
                        s => panic!("{s}: {:?}", r.json),
                    }
                }
            }
        }
    });
    futures::future::join_all(sends).await;
    let mut stored: Vec<String> = t
        .messages(&conv, &provider())
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored.len(), 100);
    let mut received = Vec::new();
    while received.len() < 100 {
        let f = next_frame(&mut prov).await;
        match f["type"].as_str() {
            Some("message.created") => {
                received.push(f["data"]["body"].as_str().unwrap().to_string())
            }
            // The opening, and the sender's own read horizon moving.
            Some("participant.joined" | "conversation.read") => {}
            _ => panic!("unexpected {f}"),
        }
    }
    // In the order each writer stored them...
    for w in 0..4 {
        let mine: Vec<&String> = received
            .iter()
            .filter(|b| b.starts_with(&format!("m{w}-")))
            .collect();
        let expected: Vec<String> = (0..25).map(|i| format!("m{w}-{i}")).collect();
        assert_eq!(
            mine,
            expected.iter().collect::<Vec<_>>(),
            "writer {w}'s order"
        );
    }
    // ...and every stored message exactly once, nothing else.
    let mut got = received.clone();
    got.sort();
    stored.sort();
    assert_eq!(got, stored);
    got.dedup();
    assert_eq!(got.len(), 100);
}
