//! The WhatsApp/SMS org inbox through the API: each org's agents see their
//! org's conversations only, share one unread count, and the booking-chat
//! operations that make no sense on it are refused.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use shared::auth::UserType;
use shared::inbox::inbox_conversation_id;

const NUMBER_A: &str = "whatsapp:+15550001111";
const NUMBER_B: &str = "+15550002222";
const CONTACT: &str = "whatsapp:+15551234567";
const SMS_CONTACT: &str = "+15551234567";

/// Org A (WhatsApp number) and org B (SMS number), one or more inbound
/// messages each; returns (A's conversation, B's conversation).
async fn two_orgs(t: &TestApp) -> (String, String) {
    t.register_number(NUMBER_A, "org_a").await;
    t.register_number(NUMBER_B, "org_b").await;
    t.inbound(CONTACT, NUMBER_A, "hi A").await;
    t.inbound(CONTACT, NUMBER_A, "still there, A?").await;
    t.inbound(SMS_CONTACT, NUMBER_B, "hi B").await;
    assert_eq!(t.drain().await, 3);
    (
        inbox_conversation_id("org_a", "twilio", "whatsapp", CONTACT),
        inbox_conversation_id("org_b", "twilio", "sms", SMS_CONTACT),
    )
}

#[tokio::test]
async fn when_two_orgs_receive_messages_each_agent_should_see_only_their_own() {
    let t = spawn_app().await;
    let (conv_a, conv_b) = two_orgs(&t).await;
    let (agent_a, agent_b) = (agent_of("agent_a", "org_a"), agent_of("agent_b", "org_b"));

    let inbox = t.inbox(&agent_a).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], conv_a.as_str());
    assert_eq!(inbox[0]["unread_count"], 2);
    let inbox = t.inbox(&agent_b).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], conv_b.as_str());
    assert_eq!(inbox[0]["type"], "sms");
    assert_eq!(inbox[0]["inbox"]["channel"], "sms");
    assert_eq!(t.unread_total(&agent_a).await, 2);
    assert_eq!(t.unread_total(&agent_b).await, 1);

    // Own: visible. The other org's: does not exist, whatever the route.
    assert_eq!(
        t.get(&format!("/conversations/{conv_a}"), &agent_a)
            .await
            .status,
        200
    );
    assert_eq!(
        t.bodies(&conv_a, &agent_a).await,
        ["hi A", "still there, A?"]
    );
    assert_error(
        &t.get(&format!("/conversations/{conv_b}"), &agent_a).await,
        404,
        "not_found",
    );
    assert_error(
        &t.get(&format!("/conversations/{conv_b}/messages"), &agent_a)
            .await,
        404,
        "not_found",
    );
    assert_error(&t.mark_read(&conv_b, &agent_a).await, 404, "not_found");
    assert_error(
        &t.get(&format!("/conversations/{conv_a}"), &agent_b).await,
        404,
        "not_found",
    );
    // Agent A's failed read did not touch B's count.
    assert_eq!(t.unread_total(&agent_b).await, 1);
    assert_eq!(t.conversation_unread(&conv_b, &agent_b).await, 1);

    // The same contact writing to both orgs makes one conversation in each.
    t.inbound(CONTACT, NUMBER_B, "B, via WhatsApp to your SMS number")
        .await;
    t.drain().await;
    assert_eq!(t.inbox(&agent_b).await.len(), 2);
    assert_eq!(t.inbox(&agent_a).await.len(), 1);
}

#[tokio::test]
async fn when_a_customer_provider_or_orgless_agent_asks_for_an_inbox_conversation_it_should_be_404()
{
    let t = spawn_app().await;
    let (conv_a, _) = two_orgs(&t).await;
    for (who, tok) in [
        ("customer", customer()),
        ("provider", provider()),
        ("agent without an org", token("agent_x", UserType::Agent)),
        (
            "customer claiming the org",
            token_with("cust_1", UserType::Customer, Some("org_a")),
        ),
    ] {
        for path in [
            format!("/conversations/{conv_a}"),
            format!("/conversations/{conv_a}/messages"),
            format!("/conversations/{conv_a}/participants"),
        ] {
            let r = t.get(&path, &tok).await;
            assert_eq!(r.status, 404, "{who} GET {path}: {:?}", r.json);
        }
        assert_error(&t.mark_read(&conv_a, &tok).await, 404, "not_found");
        assert_error(&t.send(&conv_a, &tok, "hello").await, 404, "not_found");
        let list = t.get("/conversations", &tok).await;
        assert_eq!(list.status, 200);
        assert!(
            list.json["items"].as_array().unwrap().is_empty(),
            "{who}: {:?}",
            list.json
        );
    }
    assert_eq!(t.unread_total(&agent_of("agent_a", "org_a")).await, 2);
    // A service token sees it.
    let r = t.get(&format!("/conversations/{conv_a}"), &service()).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["inbox"]["org_id"], "org_a");
}

#[tokio::test]
async fn when_an_agent_marks_an_inbox_conversation_read_it_should_be_read_for_the_whole_org() {
    let t = spawn_app().await;
    let (conv_a, _) = two_orgs(&t).await;
    let other_contact = "whatsapp:+15557654321";
    t.inbound(other_contact, NUMBER_A, "me too").await;
    t.drain().await;
    let conv_a2 = inbox_conversation_id("org_a", "twilio", "whatsapp", other_contact);
    let (agent_1, agent_2) = (agent_of("agent_1", "org_a"), agent_of("agent_2", "org_a"));
    assert_eq!(t.unread_total(&agent_1).await, 3);

    let r = t.mark_read(&conv_a, &agent_1).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["unread_count"], 0);
    assert_eq!(r.json["user_id"], "agent_1");
    // Read for every agent of the org.
    assert_eq!(t.conversation_unread(&conv_a, &agent_2).await, 0);
    assert_eq!(t.conversation_unread(&conv_a2, &agent_2).await, 1);
    assert_eq!(t.unread_total(&agent_2).await, 1);
    let inbox = t.inbox(&agent_2).await;
    let row = inbox.iter().find(|c| c["id"] == conv_a.as_str()).unwrap();
    assert_eq!(row["unread_count"], 0);
    // Marking it again changes nothing.
    assert_eq!(t.mark_read(&conv_a, &agent_2).await.status, 200);
    assert_eq!(t.unread_total(&agent_1).await, 1);
    // Other orgs are untouched.
    assert_eq!(t.unread_total(&agent_of("agent_b", "org_b")).await, 1);

    // A new message counts again; a service token may not read for the org.
    t.inbound(CONTACT, NUMBER_A, "hello again").await;
    t.drain().await;
    assert_eq!(t.conversation_unread(&conv_a, &agent_1).await, 1);
    assert_eq!(t.unread_total(&agent_1).await, 2);
    assert_error(&t.mark_read(&conv_a, &service()).await, 403, "agents_only");
    assert_eq!(t.unread_total(&agent_1).await, 2);
}

#[tokio::test]
async fn when_someone_outside_the_org_replies_to_an_inbox_conversation_it_should_be_404_and_reach_no_one()
 {
    let t = spawn_app().await;
    let (conv_a, _) = two_orgs(&t).await;
    t.standin.clear_requests();
    for (who, tok) in [
        ("agent of another org", agent_of("agent_b", "org_b")),
        ("customer", customer()),
        ("provider", provider()),
        ("agent without an org", token("agent_x", UserType::Agent)),
    ] {
        let r = t.send(&conv_a, &tok, "hello from outside").await;
        assert_eq!(r.status, 404, "{who}: {:?}", r.json);
        assert_eq!(r.code(), "not_found", "{who}");
        let r = t
            .send_with_key(&conv_a, &tok, "hello from outside", "key-1")
            .await;
        assert_eq!(r.status, 404, "{who}: {:?}", r.json);
    }
    assert!(
        t.standin.requests().is_empty(),
        "{:?}",
        t.standin.requests()
    );
    let agent = agent_of("agent_a", "org_a");
    assert_eq!(t.bodies(&conv_a, &agent).await, ["hi A", "still there, A?"]);
    assert_eq!(t.unread_total(&agent).await, 2);
}

#[tokio::test]
async fn when_participants_are_managed_on_an_inbox_conversation_it_should_be_422_not_a_booking_chat()
 {
    let t = spawn_app().await;
    let (conv_a, _) = two_orgs(&t).await;
    let agent = agent_of("agent_a", "org_a");
    let path = format!("/conversations/{conv_a}/participants");
    for tok in [agent.clone(), service()] {
        let r = t
            .post(
                &path,
                &tok,
                json!({"user_id": "prov_1", "user_type": "provider"}),
            )
            .await;
        assert_error(&r, 422, "not_a_booking_chat");
        let r = t
            .call(
                Method::DELETE,
                &format!("{path}/agent_a"),
                Some(&tok),
                None,
                &[],
            )
            .await;
        assert_error(&r, 422, "not_a_booking_chat");
    }
    // Listing is harmless: an inbox conversation has no chat participants.
    let r = t.get(&path, &agent).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["participants"], json!([]));
    // And nobody was added: the provider still cannot see it.
    assert_eq!(
        t.get(&format!("/conversations/{conv_a}"), &provider())
            .await
            .status,
        404
    );
}
