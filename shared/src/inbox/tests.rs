//! The inbox rules (what `process-inbound` does with each queued webhook)
//! against the in-memory adapters. The same rules run over DynamoDB and
//! SQS in `dev/tests/api`.

use crate::app::Core;
use crate::domain::{ConversationStatus, MessageStatus, Provider, inbox_conversation_id};
use crate::envelope::{Envelope, Source};
use crate::inbox::{ProcessError, process};
use crate::memory::{MemoryStore, register_whatsapp, test_app};
use crate::model::ChatAccount;
use crate::ports::{AccountStore, ConversationStore, InboxStore, ReadStateStore};

const ORG: &str = "org_a";
const BUSINESS: &str = "whatsapp:+15550001111";
const CONTACT: &str = "whatsapp:+15551234567";

async fn core() -> Core<MemoryStore> {
    let core = test_app(()).core;
    register_whatsapp(&core.store, BUSINESS, ORG).await;
    core
}

fn queued(params: &[(&str, &str)], at: &str) -> String {
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    serde_json::to_string(&Envelope::new(
        Source::Messaging,
        params,
        None,
        None,
        at.into(),
    ))
    .unwrap()
}

fn inbound(sid: &str, to: &str, body: &str, at: &str) -> String {
    queued(
        &[
            ("MessageSid", sid),
            ("From", CONTACT),
            ("To", to),
            ("Body", body),
            ("ProfileName", "Ana"),
        ],
        at,
    )
}

fn status(sid: &str, status: &str, at: &str) -> String {
    queued(
        &[
            ("MessageSid", sid),
            ("MessageStatus", status),
            ("From", BUSINESS),
            ("To", CONTACT),
        ],
        at,
    )
}

/// The org's Twilio counters: (total, active).
async fn twilio_counts(core: &Core<MemoryStore>) -> (i64, i64) {
    let stats = core
        .store
        .provider_stats(ORG, "2026-12-01T00:00:00.000Z")
        .await
        .unwrap();
    let t = stats
        .into_iter()
        .find(|s| s.provider == Provider::Twilio)
        .unwrap();
    (t.total, t.active)
}

fn conv_id() -> String {
    inbox_conversation_id(ORG, "twilio", "whatsapp", CONTACT)
}

#[tokio::test]
async fn when_a_contact_writes_twice_and_twilio_redelivers_it_should_be_one_conversation_two_messages()
 {
    let core = core().await;
    let first = inbound("SM1", BUSINESS, "hi", "2026-12-01T10:00:00.000Z");
    process(&core, &first).await.unwrap();
    process(&core, &first).await.unwrap(); // an SQS redelivery
    process(
        &core,
        &inbound("SM2", BUSINESS, "anyone?", "2026-12-01T10:01:00.000Z"),
    )
    .await
    .unwrap();

    let conv = conv_id();
    assert_eq!(core.store.messages_of(&conv).len(), 2);
    let meta = core.store.conversation_meta(&conv).await.unwrap().unwrap();
    let inbox = meta.inbox.unwrap();
    assert_eq!(
        (inbox.org_id.as_str(), inbox.provider, inbox.unread_count),
        (ORG, Provider::Twilio, 2)
    );
    assert_eq!(inbox.contact_name.as_deref(), Some("Ana"));
    assert_eq!(meta.last_message_preview.as_deref(), Some("anyone?"));
    assert_eq!(core.store.org_unread_total(ORG).await.unwrap(), 2);
    let stats = core
        .store
        .provider_stats(ORG, "2026-12-01T00:00:00.000Z")
        .await
        .unwrap();
    let twilio = stats
        .iter()
        .find(|s| s.provider == Provider::Twilio)
        .unwrap();
    assert_eq!((twilio.total, twilio.active, twilio.within_24h), (1, 1, 1));
}

#[tokio::test]
async fn when_nobody_owns_the_number_the_message_should_be_parked_not_dropped() {
    let core = core().await;
    let other = "whatsapp:+15559990000";
    process(
        &core,
        &inbound("SM9", other, "hello", "2026-12-01T10:00:00.000Z"),
    )
    .await
    .unwrap();
    let parked = core.store.list_unroutable(10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!((parked[0].1.as_str(), parked[0].2.as_str()), ("SM9", other));
    assert_eq!(core.store.org_unread_total(ORG).await.unwrap(), 0);
}

#[tokio::test]
async fn when_a_parked_number_is_registered_its_messages_should_be_replayed_exactly_once() {
    use crate::inbox::inbound::replay;
    use crate::inbox::parked::replay_parked;
    let core = core().await;
    let late = "whatsapp:+15559990001";
    let first = inbound("SM71", late, "anyone?", "2026-12-01T10:00:00.000Z");
    let second = inbound("SM72", late, "hello?", "2026-12-01T10:01:00.000Z");
    for raw in [&first, &second, &first] {
        process(&core, raw).await.unwrap();
    }
    // Not registered yet: a replay stores nothing and keeps them parked.
    let none = replay_parked(&core, Provider::Twilio, late).await.unwrap();
    assert_eq!(none.replayed, 0);
    assert_eq!(
        core.store
            .parked_for(Provider::Twilio, late, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    register_whatsapp(&core.store, late, ORG).await;
    let report = replay_parked(&core, Provider::Twilio, late).await.unwrap();
    assert_eq!(
        (report.replayed, report.skipped, report.remaining),
        (2, 0, false)
    );
    assert!(
        core.store
            .parked_for(Provider::Twilio, late, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(core.store.list_unroutable(10).await.unwrap().is_empty());
    assert_eq!(core.store.org_unread_total(ORG).await.unwrap(), 2);

    // A crash after storing, before forgetting it, replays it again:
    // nothing new is stored.
    assert!(replay(&core, &first).await.unwrap());
    assert_eq!(core.store.org_unread_total(ORG).await.unwrap(), 2);
    // A second registration finds nothing left.
    let again = replay_parked(&core, Provider::Twilio, late).await.unwrap();
    assert_eq!(again.replayed, 0);
}

#[tokio::test]
async fn when_a_message_from_an_unreachable_sender_is_parked_no_registration_should_replay_it() {
    use crate::inbox::parked::replay_parked;
    let core = core().await;
    let short_code = queued(
        &[
            ("MessageSid", "SM81"),
            ("From", "12345"),
            ("To", BUSINESS),
            ("Body", "hi"),
        ],
        "2026-12-01T10:00:00.000Z",
    );
    process(&core, &short_code).await.unwrap();
    assert_eq!(core.store.list_unroutable(10).await.unwrap().len(), 1);
    let report = replay_parked(&core, Provider::Twilio, BUSINESS)
        .await
        .unwrap();
    assert_eq!(report.replayed, 0);
    assert_eq!(
        core.store.list_unroutable(10).await.unwrap().len(),
        1,
        "still parked"
    );
}

#[tokio::test]
async fn when_a_closed_conversation_hears_from_the_contact_it_should_reopen_and_count_active_again()
{
    let core = core().await;
    process(
        &core,
        &inbound("SM1", BUSINESS, "hi", "2026-12-01T10:00:00.000Z"),
    )
    .await
    .unwrap();
    let head = core.store.load_head(&conv_id()).await.unwrap().unwrap();
    assert!(
        core.store
            .set_status(
                &head,
                ConversationStatus::Closed,
                "2026-12-01T10:05:00.000Z"
            )
            .await
            .unwrap()
    );
    assert_eq!(twilio_counts(&core).await, (1, 0));
    process(
        &core,
        &inbound("SM2", BUSINESS, "still there?", "2026-12-01T11:00:00.000Z"),
    )
    .await
    .unwrap();
    let meta = core
        .store
        .conversation_meta(&conv_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.status, ConversationStatus::Active);
    assert_eq!(twilio_counts(&core).await, (1, 1));
}

#[tokio::test]
async fn when_the_contact_sends_stop_and_then_start_the_opt_out_should_follow() {
    let core = core().await;
    process(
        &core,
        &inbound("SM1", BUSINESS, "STOP", "2026-12-01T10:00:00.000Z"),
    )
    .await
    .unwrap();
    let opted = |m: crate::model::ConversationMeta| m.inbox.unwrap().opted_out;
    let meta = core
        .store
        .conversation_meta(&conv_id())
        .await
        .unwrap()
        .unwrap();
    assert!(opted(meta));
    process(
        &core,
        &inbound("SM2", BUSINESS, "start", "2026-12-01T10:01:00.000Z"),
    )
    .await
    .unwrap();
    let meta = core
        .store
        .conversation_meta(&conv_id())
        .await
        .unwrap()
        .unwrap();
    assert!(!opted(meta));
}

#[tokio::test]
async fn when_statuses_arrive_out_of_order_the_message_should_only_move_forward() {
    let core = core().await;
    process(
        &core,
        &inbound("SM1", BUSINESS, "hi", "2026-12-01T10:00:00.000Z"),
    )
    .await
    .unwrap();
    for s in ["read", "delivered", "sent", "partially_delivered"] {
        process(&core, &status("SM1", s, "2026-12-01T10:02:00.000Z"))
            .await
            .unwrap();
    }
    let msgs = core.store.messages_of(&conv_id());
    assert_eq!(msgs[0].status, MessageStatus::Read);
}

#[tokio::test]
async fn when_an_envelope_is_malformed_it_should_be_permanent_so_it_reaches_the_dlq() {
    let core = core().await;
    assert!(matches!(
        process(&core, "{not json").await,
        Err(ProcessError::Permanent(_))
    ));
    let no_sid = queued(&[("From", CONTACT), ("To", BUSINESS), ("Body", "x")], "t");
    assert!(matches!(
        process(&core, &no_sid).await,
        Err(ProcessError::Permanent(_))
    ));
    assert!(core.store.messages_of(&conv_id()).is_empty());
}

#[tokio::test]
async fn when_a_failure_arrives_after_delivery_the_status_should_stay_and_the_code_be_kept() {
    let core = core().await;
    process(
        &core,
        &inbound("SM1", BUSINESS, "hi", "2026-12-01T10:00:00.000Z"),
    )
    .await
    .unwrap();
    let late_failure = queued(
        &[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30008"),
        ],
        "2026-12-01T10:03:00.000Z",
    );
    process(
        &core,
        &status("SM1", "delivered", "2026-12-01T10:02:00.000Z"),
    )
    .await
    .unwrap();
    process(&core, &late_failure).await.unwrap();
    let msg = &core.store.messages_of(&conv_id())[0];
    assert_eq!(msg.status, MessageStatus::Delivered);
    assert_eq!(msg.error_code.as_deref(), Some("30008"));
}

#[tokio::test]
async fn when_the_sender_cannot_be_replied_to_it_should_be_parked_but_a_username_stored() {
    let core = core().await;
    for (sid, from) in [
        ("SM7", "whatsapp:CC.1a2b3c"),
        ("SM8", "ACME"),
        ("SM9", "12345"),
    ] {
        let env = queued(
            &[
                ("MessageSid", sid),
                ("From", from),
                ("To", BUSINESS),
                ("Body", "hi"),
            ],
            "2026-12-01T10:00:00.000Z",
        );
        process(&core, &env).await.unwrap();
    }
    let parked = core.store.list_unroutable(10).await.unwrap();
    let sids: Vec<_> = parked.iter().map(|(_, sid, _)| sid.as_str()).collect();
    assert_eq!(sids.len(), 2, "{parked:?}");
    assert!(["SM8", "SM9"].iter().all(|s| sids.contains(s)));
    // A WhatsApp username (business-scoped id) is a contact like any other.
    let conv =
        crate::domain::inbox_conversation_id(ORG, "twilio", "whatsapp", "whatsapp:CC.1a2b3c");
    let stored = core.store.messages_of(&conv);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].author_id, "whatsapp:CC.1a2b3c");
}

#[tokio::test]
async fn when_a_number_moves_to_another_org_the_next_message_should_route_there_despite_the_cache()
{
    let core = core().await;
    process(
        &core,
        &inbound("SM1", BUSINESS, "hi", "2026-12-01T10:00:00.000Z"),
    )
    .await
    .unwrap();
    // The warm cache now says org_a. The number moves to org_b.
    assert!(
        core.store
            .delete_chat_account(Provider::Twilio, BUSINESS, ORG)
            .await
            .unwrap()
    );
    let mut moved = core
        .store
        .chat_account(Provider::Twilio, BUSINESS)
        .await
        .unwrap();
    assert!(moved.is_none());
    moved = Some(ChatAccount {
        provider: Provider::Twilio,
        address: BUSINESS.into(),
        org_id: "org_b".into(),
        channel: crate::domain::Channel::Whatsapp,
        created_at: "2026-12-01T10:30:00.000Z".into(),
        created_by: "test".into(),
        access_token: None,
        twilio_account_sid: None,
    });
    core.store
        .put_chat_account(moved.as_ref().unwrap())
        .await
        .unwrap();
    process(
        &core,
        &inbound("SM2", BUSINESS, "hello?", "2026-12-01T11:00:00.000Z"),
    )
    .await
    .unwrap();
    let org_b = inbox_conversation_id("org_b", "twilio", "whatsapp", CONTACT);
    assert_eq!(
        core.store.messages_of(&org_b).len(),
        1,
        "routed to the new owner"
    );
    let rerouted = &core.store.messages_of(&org_b)[0];
    let params = rerouted
        .details
        .as_ref()
        .and_then(|d| d.get("twilio_params"))
        .and_then(|p| p.as_array());
    assert!(
        params.is_some_and(|p| p.contains(&serde_json::json!(["MessageSid", "SM2"]))),
        "a message routed again keeps its details: {:?}",
        rerouted.details
    );
    assert_eq!(
        core.store.messages_of(&conv_id()).len(),
        1,
        "org_a kept only its own"
    );
}
