//! The Meta adapter's pure parts: handshake, signed deliveries, and the
//! normalisation of Meta's documented payloads.

use serde_json::json;

use super::client::{MetaContent, message_json};

fn api_error(code: i64) -> crate::error::ApiError {
    crate::error::ApiError::from_messaging(crate::transport::TwilioError::Meta {
        status: 400,
        code,
        subcode: None,
        message: String::new(),
    })
}
use super::webhook::{MetaWebhookConfig, accept, handshake, normalise};
use crate::envelope::{Kind, Source};
use crate::provider::ProviderEvent;

fn cfg() -> MetaWebhookConfig {
    MetaWebhookConfig {
        app_secrets: vec!["app-secret".into()],
        verify_token: "verify-token-0123456789".into(),
        queue_url: "http://q".into(),
    }
}

/// A delivery shaped like Meta's webhook reference.
pub fn delivery(phone_number_id: &str, value: serde_json::Value) -> String {
    let mut v = value;
    v["messaging_product"] = json!("whatsapp");
    v["metadata"] =
        json!({"display_phone_number": "15550001111", "phone_number_id": phone_number_id});
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA_ID", "changes": [{"field": "messages", "value": v}]}]
    })
    .to_string()
}

fn events(body: &str) -> Vec<ProviderEvent> {
    normalise(body).unwrap()
}

#[test]
fn when_the_handshake_has_the_verify_token_it_should_echo_the_challenge() {
    let q = "hub.mode=subscribe&hub.verify_token=verify-token-0123456789&hub.challenge=1158201444";
    assert_eq!(handshake(&cfg(), Some(q)).unwrap(), "1158201444");
    let wrong = "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1";
    assert_eq!(handshake(&cfg(), Some(wrong)).unwrap_err().status(), 403);
    assert_eq!(handshake(&cfg(), None).unwrap_err().status(), 400);
    let no_challenge = "hub.mode=subscribe&hub.verify_token=verify-token-0123456789";
    assert_eq!(
        handshake(&cfg(), Some(no_challenge)).unwrap_err().status(),
        400
    );
    let html =
        "hub.mode=subscribe&hub.verify_token=verify-token-0123456789&hub.challenge=%3Cscript%3E";
    assert_eq!(handshake(&cfg(), Some(html)).unwrap_err().status(), 400);
}

#[test]
fn when_a_delivery_is_signed_it_should_become_an_envelope_and_forgeries_403() {
    let body = delivery("106540352242922", json!({"messages": []}));
    let sig = super::signature::sign("app-secret", body.as_bytes());
    let env = accept(
        &cfg(),
        Some("application/json"),
        Some(&sig),
        body.as_bytes(),
        "t".into(),
    )
    .unwrap();
    assert_eq!(
        (env.source, env.kind),
        (Source::Meta, Kind::ProviderWebhook)
    );
    assert_eq!(env.json_body.as_deref(), Some(body.as_str()));
    let forged = super::signature::sign("not-the-secret", body.as_bytes());
    for s in [
        Some(forged.as_str()),
        None,
        Some("sha256="),
        Some("garbage"),
    ] {
        let e = accept(
            &cfg(),
            Some("application/json"),
            s,
            body.as_bytes(),
            "t".into(),
        )
        .unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (403, "invalid_signature"),
            "{s:?}"
        );
    }
    let tampered = body.replace("106540352242922", "999");
    let e = accept(
        &cfg(),
        Some("application/json"),
        Some(&sig),
        tampered.as_bytes(),
        "t".into(),
    )
    .unwrap_err();
    assert_eq!(e.status(), 403);
    let e = accept(
        &cfg(),
        Some("text/plain"),
        Some(&sig),
        body.as_bytes(),
        "t".into(),
    )
    .unwrap_err();
    assert_eq!(e.status(), 415);
    let not_json = b"[1,2]";
    let sig = super::signature::sign("app-secret", not_json);
    let e = accept(
        &cfg(),
        Some("application/json"),
        Some(&sig),
        not_json,
        "t".into(),
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn when_a_text_message_arrives_it_should_carry_the_sender_and_the_number_id() {
    let body = delivery(
        "106540352242922",
        json!({
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15551234567", "user_id": "US.13491208655302741918"}],
            "messages": [{"from": "15551234567", "from_user_id": "US.13491208655302741918",
                          "id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQTdCNTg5RjY1MEYxQjM2NzBGMQA=",
                          "timestamp": "1764590400", "type": "text", "text": {"body": "Hola"}}]
        }),
    );
    let Ok::<[ProviderEvent; 1], _>([ProviderEvent::Message(m)]) = events(&body).try_into() else {
        panic!("one message");
    };
    assert_eq!(m.business_address, "106540352242922");
    assert_eq!(m.body, "Hola");
    assert_eq!(m.profile_name.as_deref(), Some("Ana"));
    assert_eq!(m.contact.phone.as_deref(), Some("+15551234567"));
    assert_eq!(
        m.contact.user_id.as_deref(),
        Some("US.13491208655302741918")
    );
    assert_eq!(
        m.contact.reply_address().as_deref(),
        Some("whatsapp:+15551234567")
    );
    assert_eq!(m.sent_at.unwrap().timestamp(), 1764590400);
}

#[test]
fn when_a_username_user_writes_without_a_phone_it_should_be_known_by_bsuid() {
    let body = delivery(
        "1",
        json!({
            "contacts": [{"profile": {"name": "Ana", "username": "@ana"}, "user_id": "US.77"}],
            "messages": [{"from_user_id": "US.77", "id": "wamid.A", "timestamp": "1764590400",
                          "type": "text", "text": {"body": "hi"}}]
        }),
    );
    let Ok::<[ProviderEvent; 1], _>([ProviderEvent::Message(m)]) = events(&body).try_into() else {
        panic!("one message");
    };
    assert_eq!(m.contact.phone, None);
    assert_eq!(m.contact.reply_address().as_deref(), Some("whatsapp:US.77"));
    assert_eq!(m.details["username"], "@ana");
}

#[test]
fn when_media_location_and_replies_arrive_they_should_be_metadata() {
    let body = delivery(
        "1",
        json!({
            "contacts": [{"wa_id": "15551234567"}],
            "messages": [
                {"from": "15551234567", "id": "wamid.img", "timestamp": "1", "type": "image",
                 "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "abc", "caption": "look"}},
                {"from": "15551234567", "id": "wamid.doc", "timestamp": "1", "type": "document",
                 "document": {"id": "MEDIA2", "mime_type": "application/pdf", "filename": "a.pdf"}},
                {"from": "15551234567", "id": "wamid.loc", "timestamp": "1", "type": "location",
                 "location": {"latitude": 38.7, "longitude": -9.1, "name": "Office"}},
                {"from": "15551234567", "id": "wamid.btn", "timestamp": "1", "type": "interactive",
                 "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}},
                {"from": "15551234567", "id": "wamid.list", "timestamp": "1", "type": "interactive",
                 "interactive": {"type": "list_reply", "list_reply": {"id": "r2", "title": "Tuesday", "description": "2pm"}}},
                {"from": "15551234567", "id": "wamid.tpl", "timestamp": "1", "type": "button",
                 "button": {"text": "Stop promotions", "payload": "STOP_PROMO"}},
                {"from": "15551234567", "id": "wamid.react", "timestamp": "1", "type": "reaction",
                 "reaction": {"message_id": "wamid.img", "emoji": "👍"}},
                {"from": "15551234567", "timestamp": "1", "type": "text", "text": {"body": "no id"}}
            ]
        }),
    );
    let ev = events(&body);
    assert_eq!(ev.len(), 8);
    let msg = |i: usize| match &ev[i] {
        ProviderEvent::Message(m) => m.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(msg(0).body, "look");
    assert_eq!(msg(0).details["media"][0]["media_id"], "MEDIA1");
    assert_eq!(msg(0).details["media"][0]["content_type"], "image/jpeg");
    assert_eq!(msg(1).details["media"][0]["filename"], "a.pdf");
    assert_eq!(msg(2).details["location"]["latitude"], 38.7);
    assert_eq!(
        (msg(3).body.as_str(), &msg(3).details["button"]["payload"]),
        ("Yes", &json!("yes"))
    );
    assert_eq!(msg(4).details["button"]["description"], "2pm");
    assert_eq!(msg(5).details["button"]["payload"], "STOP_PROMO");
    assert_eq!(
        ev[6],
        ProviderEvent::Skipped {
            what: "reaction".into()
        }
    );
    assert_eq!(
        ev[7],
        ProviderEvent::Skipped {
            what: "message without id".into()
        }
    );
}

#[test]
fn when_statuses_arrive_they_should_carry_the_error_code() {
    let body = delivery(
        "1",
        json!({"statuses": [
            {"id": "wamid.out1", "status": "delivered", "timestamp": "2", "recipient_id": "15551234567"},
            {"id": "wamid.out2", "status": "failed", "timestamp": "3", "recipient_user_id": "US.77",
             "errors": [{"code": 131026, "title": "Message undeliverable"}]},
            {"status": "read"}
        ]}),
    );
    let ev = events(&body);
    match (&ev[0], &ev[1]) {
        (ProviderEvent::Status(a), ProviderEvent::Status(b)) => {
            assert_eq!(
                (
                    a.message_id.as_str(),
                    a.status.as_str(),
                    a.error_code.as_deref()
                ),
                ("wamid.out1", "delivered", None)
            );
            assert_eq!(
                (b.status.as_str(), b.error_code.as_deref()),
                ("failed", Some("131026"))
            );
            assert_eq!(b.business_address.as_deref(), Some("1"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(ev[2], ProviderEvent::Skipped { .. }));
}

#[test]
fn when_the_delivery_is_not_about_messages_it_should_be_skipped_not_failed() {
    let other = json!({"object": "page", "entry": []}).to_string();
    assert!(matches!(
        &events(&other)[..],
        [ProviderEvent::Skipped { .. }]
    ));
    let tpl = json!({"object": "whatsapp_business_account", "entry": [{"changes": [
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]})
    .to_string();
    assert!(matches!(&events(&tpl)[..], [ProviderEvent::Skipped { .. }]));
    let no_meta = json!({"object": "whatsapp_business_account", "entry": [{"changes": [
        {"field": "messages", "value": {"messages": [{"id": "x"}]}}]}]})
    .to_string();
    assert!(matches!(
        &events(&no_meta)[..],
        [ProviderEvent::Skipped { .. }]
    ));
    assert!(normalise("not json").is_err());
}

#[test]
fn when_a_reply_is_built_it_should_use_to_for_phones_and_recipient_for_bsuids() {
    let m = message_json("whatsapp:+15551234567", &MetaContent::Text("hi"));
    assert_eq!(m["to"], "15551234567");
    assert_eq!(m["text"]["body"], "hi");
    assert!(m.get("recipient").is_none());
    let m = message_json("whatsapp:US.77", &MetaContent::Text("hi"));
    assert_eq!(m["recipient"], "US.77");
    assert!(m.get("to").is_none());
    let m = message_json(
        "whatsapp:+15551234567",
        &MetaContent::Media {
            kind: "image",
            link: "https://x.example/a.jpg",
            caption: Some("c"),
        },
    );
    assert_eq!(m["type"], "image");
    assert_eq!(
        m["image"],
        json!({"link": "https://x.example/a.jpg", "caption": "c"})
    );
    let t = json!({"name": "hello_world", "language": {"code": "en_US"}});
    let m = message_json("whatsapp:+15551234567", &MetaContent::Template(&t));
    assert_eq!(
        (m["type"].clone(), m["template"].clone()),
        (json!("template"), t)
    );
}

#[test]
fn when_meta_refuses_the_codes_should_map_to_actionable_errors() {
    let cases = [
        (131047, 422, "outside_customer_service_window"),
        (131026, 422, "invalid_recipient"),
        (130429, 429, "meta_rate_limited"),
        (131056, 429, "meta_rate_limited"),
        (190, 502, "meta_token_invalid"),
        (100, 502, "meta_error"),
    ];
    for (code, status, api) in cases {
        let e = api_error(code);
        assert_eq!((e.status().as_u16(), e.code()), (status, api), "{code}");
    }
    let resp = api_error(130429).into_response();
    assert!(resp.headers().get("retry-after").is_some());
}

#[test]
fn when_the_meta_route_is_named_it_should_be_the_envelope_source_path() {
    assert_eq!(Source::Meta.path(), super::webhook::PATH);
    assert_eq!(
        Source::from_path("/prod/webhooks/meta"),
        None,
        "not a Twilio route"
    );
}
