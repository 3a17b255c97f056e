//! The fault-injection suite: the booking flow, the inbound pipeline and
//! agents' replies driven through fault-injecting proxies (in front of the
//! emulator for every DynamoDB and SQS request, and in front of the Twilio
//! stand-in), with each kind of fault (throttle, 5xx, timeout or reset,
//! before or after the upstream acted) at each step. Clients behave as
//! the real ones do: API clients retry 5xx and 409 `request_in_progress`
//! with the same `Idempotency-Key`, Twilio retries webhooks until it gets
//! a 200 (`#rc=5&rp=all`). Afterwards every message is counted.
//!
//! Each flow prints one `fault-suite` line with its figures (BENCHMARKS.md)
//! and fails on anything lost, doubled, moved backwards, or a 5xx answered
//! to bad input.

use crate::helpers::*;
use dev::faults::{Fault, FaultProxy};
use reqwest::Method;
use serde_json::{Value, json};
use shared::inbox::inbox_conversation_id;
use std::time::Duration;

/// Longer than the Twilio client's timeout in tests (400 ms).
const HOLD: Duration = Duration::from_millis(450);

#[derive(Debug)]
struct Tally {
    started: std::time::Instant,
    cases: usize,
    injected: usize,
    sent: usize,
    received: usize,
    lost: usize,
    doubled: usize,
    backwards: usize,
    bad_input_5xx: usize,
    bad_inputs: usize,
    /// Replies Twilio accepted whose answer never came back (502
    /// `twilio_timeout`, then 409 `delivery_unknown`): not stored, never
    /// re-sent.
    ambiguous: usize,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            started: std::time::Instant::now(),
            cases: 0,
            injected: 0,
            sent: 0,
            received: 0,
            lost: 0,
            doubled: 0,
            backwards: 0,
            bad_input_5xx: 0,
            bad_inputs: 0,
            ambiguous: 0,
        }
    }
}

impl Tally {
    fn report(&self, flow: &str) {
        println!(
            "fault-suite {flow}: cases {}, faults injected {}, messages sent {}, received {}, \
             lost {}, doubled {}, statuses moved backwards {}, 5xx on bad input {} (of {}), \
             ambiguous twilio timeouts {}, in {:.1} s",
            self.cases,
            self.injected,
            self.sent,
            self.received,
            self.lost,
            self.doubled,
            self.backwards,
            self.bad_input_5xx,
            self.bad_inputs,
            self.ambiguous,
            self.started.elapsed().as_secs_f64()
        );
        assert_eq!(
            (self.lost, self.doubled, self.backwards, self.bad_input_5xx),
            (0, 0, 0, 0),
            "{flow}: {self:?}"
        );
        assert!(
            self.injected >= self.cases,
            "{flow}: every case injected a fault: {self:?}"
        );
    }
}

/// An API call as a careful client makes it: 5xx and 409
/// `request_in_progress` are retried with the same key.
async fn api(
    t: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> Resp {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    let mut r = t
        .call(method.clone(), path, Some(token), body.clone(), &headers)
        .await;
    for _ in 0..10 {
        let retry = r.status.is_server_error() || r.code() == "request_in_progress";
        if !retry {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        r = t
            .call(method.clone(), path, Some(token), body.clone(), &headers)
            .await;
    }
    r
}

/// A signed webhook, retried until answered 200 (Twilio with `#rc=5`).
async fn webhook(t: &TestApp, route: &str, p: &[(String, String)]) {
    for _ in 0..10 {
        if t.signed_webhook(route, p, None).await.status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("webhook never accepted");
}

/// Process the queue until nothing is visible or in flight, with failed
/// records visible again after 1 s (SQS redelivery, sped up).
async fn settle(t: &TestApp) {
    for _ in 0..60 {
        loop {
            match dev::poller::poll_once_with(&t.sqs, &t.queue_url, t.app, 0, Some(1)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        match t.queue_depth(&t.queue_url).await {
            (0, 0) => return,
            // Visible but not received yet: look again soon.
            (_, 0) => tokio::time::sleep(Duration::from_millis(50)).await,
            // A failed record: back after its 1 s visibility.
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    panic!("the queue never settled");
}

/// Bad input, answered with a 4xx whatever the faults: the number of 5xx.
async fn bad_inputs(t: &TestApp, conv: &str, tally: &mut Tally) {
    let path = format!("/conversations/{conv}/messages");
    let answers = [
        t.call_raw(
            Method::POST,
            &path,
            Some(&customer()),
            Some("application/json"),
            "{not json",
        )
        .await
        .status
        .as_u16(),
        t.get("/conversations?cursor=%%%", &customer())
            .await
            .status
            .as_u16(),
        t.get(&format!("/conversations/{conv}"), "not-a-token")
            .await
            .status
            .as_u16(),
        t.post_webhook_raw(
            "/webhooks/twilio/messaging",
            Some("application/x-www-form-urlencoded"),
            Some("forged"),
            None,
            "MessageSid=SM1&Body=hi",
        )
        .await
        .status,
    ];
    for s in answers {
        tally.bad_inputs += 1;
        assert!((400..600).contains(&s), "bad input answered {s}");
        if s >= 500 {
            tally.bad_input_5xx += 1;
        }
    }
}

fn count_injected(proxies: &[&FaultProxy], before: usize) -> usize {
    proxies.iter().map(|p| p.injected().len()).sum::<usize>() - before
}

/// Stored messages of a conversation with this body.
fn stored_with(messages: &[Value], body: &str) -> usize {
    messages.iter().filter(|m| m["body"] == body).count()
}

#[tokio::test]
async fn when_every_step_of_the_booking_flow_fails_once_nothing_should_be_lost_or_doubled() {
    let (t, f) = spawn_app_with_faults(&[], HOLD).await;
    let steps: [(&FaultProxy, &str, usize); 7] = [
        (&f.aws, "Query", 1),
        (&f.aws, "TransactWriteItems", 1),
        (&f.twilio, "POST ConversationWithParticipants", 1),
        (&f.aws, "PutItem", 1),
        (&f.twilio, "POST Messages", 1),
        (&f.aws, "TransactWriteItems", 2),
        (&f.twilio, "POST Participants/{sid}", 1),
    ];
    let mut tally = Tally::default();
    let (cust, prov) = (customer(), provider());
    for (i, (proxy, op, nth)) in steps.iter().enumerate() {
        for (j, fault) in Fault::ALL.into_iter().enumerate() {
            let case = format!("{i}_{j}");
            let before = count_injected(&[&f.aws, &f.twilio], 0);
            proxy.inject(op, *nth, fault);
            tally.cases += 1;
            let created = api(
                &t,
                Method::POST,
                "/conversations",
                &service(),
                Some(booking_body(&format!("bk_fault_{case}"))),
                None,
            )
            .await;
            assert!(
                created.status == 201 || created.status == 200,
                "{op}#{nth} {fault:?}: create {:?}",
                created.json
            );
            let conv = created.json["id"].as_str().unwrap().to_string();
            let ch = created.json["twilio_conversation_sid"]
                .as_str()
                .unwrap()
                .to_string();
            let bodies = [format!("from ana {case}"), format!("from ben {case}")];
            let mut acked = Vec::new();
            for (body, token, key) in [
                (&bodies[0], &cust, format!("k-a-{case}")),
                (&bodies[1], &prov, format!("k-b-{case}")),
            ] {
                let r = api(
                    &t,
                    Method::POST,
                    &format!("/conversations/{conv}/messages"),
                    token,
                    Some(json!({"body": body})),
                    Some(&key),
                )
                .await;
                acked.push(r.status.is_success());
            }
            let read = api(
                &t,
                Method::POST,
                &format!("/conversations/{conv}/read"),
                &prov,
                None,
                None,
            )
            .await;
            assert!(
                read.status.is_success(),
                "{op}#{nth} {fault:?}: read {:?}",
                read.json
            );
            bad_inputs(&t, &conv, &mut tally).await;
            tally.injected += count_injected(&[&f.aws, &f.twilio], before);
            f.aws.take_unfired();
            f.twilio.take_unfired();

            // Twilio's onMessageAdded webhook for every message it holds.
            for (index, (sid, author, body, attributes, created)) in
                t.standin.conversation_messages(&ch).into_iter().enumerate()
            {
                let p = params(&[
                    ("AccountSid", t.standin.account_sid()),
                    ("EventType", "onMessageAdded"),
                    ("ConversationSid", &ch),
                    ("MessageSid", &sid),
                    ("Index", &index.to_string()),
                    ("Author", &author),
                    ("Body", &body),
                    ("DateCreated", &created),
                    ("Attributes", &attributes),
                    ("Source", "API"),
                ]);
                webhook(&t, "/webhooks/twilio/conversations", &p).await;
            }
            settle(&t).await;

            let held = t.standin.conversation_messages(&ch);
            let stored = t.messages(&conv, &service()).await;
            for (k, body) in bodies.iter().enumerate() {
                let at_twilio = held.iter().filter(|m| &m.2 == body).count();
                let here = stored_with(&stored, body);
                tally.sent += at_twilio.min(1);
                tally.doubled += at_twilio.saturating_sub(1) + here.saturating_sub(1);
                if (acked[k] || at_twilio > 0) && here == 0 {
                    tally.lost += 1;
                }
            }
            // The counters follow the messages, once each.
            let detail = t.get(&format!("/conversations/{conv}"), &cust).await;
            let count = detail.json["analytics"]["message_count"]
                .as_i64()
                .unwrap_or(-1);
            if count != stored.len() as i64 {
                tally.doubled += 1;
            }
            let ben_stored = stored_with(&stored, &bodies[1]) as i64;
            if detail.json["unread_count"].as_i64() != Some(ben_stored) {
                tally.doubled += 1;
            }
        }
    }
    tally.report("booking flow");
}

#[tokio::test]
async fn when_every_step_of_the_inbound_pipeline_fails_once_nothing_should_be_lost_or_doubled() {
    const ORG: &str = "org_faults_in";
    const BUSINESS: &str = "whatsapp:+15550003333";
    let (t, f) = spawn_app_with_faults(&[], HOLD).await;
    t.register_number(BUSINESS, ORG).await;
    let agent = agent_of("agent_1", ORG);
    let steps: [(&str, usize); 5] = [
        ("SendMessage", 1),
        ("ReceiveMessage", 1),
        ("GetItem", 1),
        ("TransactWriteItems", 1),
        ("DeleteMessageBatch", 1),
    ];
    let mut tally = Tally::default();
    let mut expected_unread = 0;
    for (i, (op, nth)) in steps.iter().enumerate() {
        for (j, fault) in Fault::ALL.into_iter().enumerate() {
            let contact = format!("whatsapp:+1555700{i}{j:02}");
            let before = count_injected(&[&f.aws], 0);
            f.aws.inject(op, *nth, fault);
            tally.cases += 1;
            let mut sids = Vec::new();
            for n in 0..2 {
                let sid = t.standin.new_message_sid();
                let p = t
                    .standin
                    .inbound_params(&sid, &contact, BUSINESS, &format!("hello {n}"));
                webhook(&t, "/webhooks/twilio/messaging", &p).await;
                sids.push(sid);
            }
            settle(&t).await;
            tally.injected += count_injected(&[&f.aws], before);
            f.aws.take_unfired();
            let conv = inbox_conversation_id(ORG, "twilio", "whatsapp", &contact);
            bad_inputs(&t, &conv, &mut tally).await;
            let stored = t.messages(&conv, &agent).await;
            for sid in &sids {
                let here = stored
                    .iter()
                    .filter(|m| m["twilio_message_sid"] == sid.as_str())
                    .count();
                tally.received += here.min(1);
                tally.doubled += here.saturating_sub(1);
                tally.lost += usize::from(here == 0);
            }
            expected_unread += 2;
            if t.unread_total(&agent).await != expected_unread {
                tally.doubled += 1;
            }
        }
    }
    tally.report("inbound pipeline");
}

#[tokio::test]
async fn when_every_step_of_a_reply_and_its_statuses_fails_once_nothing_should_be_lost_or_doubled()
{
    const ORG: &str = "org_faults_out";
    const BUSINESS: &str = "whatsapp:+15550004444";
    let (t, f) = spawn_app_with_faults(&[], HOLD).await;
    t.standin.disable_status_callbacks();
    t.register_number(BUSINESS, ORG).await;
    let agent = agent_of("agent_1", ORG);
    let steps: [(&FaultProxy, &str, usize); 5] = [
        (&f.aws, "PutItem", 1),
        (&f.twilio, "POST Messages.json", 1),
        (&f.aws, "TransactWriteItems", 1),
        (&f.aws, "SendMessage", 1),
        (&f.aws, "UpdateItem", 1),
    ];
    let rank = |s: &Value| shared::domain::status_rank(s.as_str().unwrap_or(""));
    let mut tally = Tally::default();
    for (i, (proxy, op, nth)) in steps.iter().enumerate() {
        for (j, fault) in Fault::ALL.into_iter().enumerate() {
            let case = format!("{i}_{j}");
            let contact = format!("whatsapp:+1555800{i}{j:02}");
            let sid = t.standin.new_message_sid();
            let p = t.standin.inbound_params(&sid, &contact, BUSINESS, "hi");
            webhook(&t, "/webhooks/twilio/messaging", &p).await;
            settle(&t).await;
            let conv = inbox_conversation_id(ORG, "twilio", "whatsapp", &contact);

            let before = count_injected(&[&f.aws, &f.twilio], 0);
            proxy.inject(op, *nth, fault);
            tally.cases += 1;
            let body = format!("reply {case}");
            let r = api(
                &t,
                Method::POST,
                &format!("/conversations/{conv}/messages"),
                &agent,
                Some(json!({"body": body})),
                Some(&format!("k-r-{case}")),
            )
            .await;
            let acked = r.status.is_success();
            let to_twilio: Vec<_> = t
                .standin
                .sms_messages()
                .into_iter()
                .filter(|m| m.2 == body)
                .collect();
            tally.sent += to_twilio.len().min(1);
            tally.doubled += to_twilio.len().saturating_sub(1);
            settle(&t).await;
            // Twilio's status callbacks, out of order and repeated.
            let mut last_rank = None;
            if let Some((reply_sid, to, _)) = to_twilio.first() {
                for status in ["delivered", "sent", "read", "sent"] {
                    let p = params(&[
                        ("MessageSid", reply_sid),
                        ("SmsSid", reply_sid),
                        ("MessageStatus", status),
                        ("SmsStatus", status),
                        ("AccountSid", t.standin.account_sid()),
                        ("From", BUSINESS),
                        ("To", to),
                        ("ApiVersion", "2010-04-01"),
                    ]);
                    webhook(&t, "/webhooks/twilio/messaging", &p).await;
                    settle(&t).await;
                    let stored = t.messages(&conv, &agent).await;
                    if let Some(m) = stored.iter().find(|m| m["body"] == body.as_str()) {
                        let now = rank(&m["status"]);
                        if last_rank.is_some_and(|r| now < r) {
                            tally.backwards += 1;
                        }
                        last_rank = Some(now);
                    }
                }
            }
            tally.injected += count_injected(&[&f.aws, &f.twilio], before);
            f.aws.take_unfired();
            f.twilio.take_unfired();
            bad_inputs(&t, &conv, &mut tally).await;
            let stored = t.messages(&conv, &agent).await;
            let here = stored_with(&stored, &body);
            tally.doubled += here.saturating_sub(1);
            if here == 0 && (acked || !to_twilio.is_empty()) {
                if acked {
                    tally.lost += 1;
                } else {
                    // Twilio took it but its answer was lost: 502, then 409
                    // delivery_unknown on the retry; never re-sent.
                    assert!(
                        r.code() == "delivery_unknown" || r.code() == "twilio_timeout",
                        "{op}#{nth} {fault:?}: {:?}",
                        r.json
                    );
                    tally.ambiguous += 1;
                }
            }
            if here == 1 {
                let m = stored.iter().find(|m| m["body"] == body.as_str()).unwrap();
                if m["status"] != "read" {
                    tally.backwards += 1;
                }
            }
        }
    }
    tally.report("replies");
}
