//! Racing requests converge: one conversation per booking, no lost messages
//! or unread counts.

use crate::helpers::*;
use futures::future::join_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_five_creates_race_for_one_booking_it_should_make_one_conversation() {
    let t = spawn_app().await;
    let cust = customer();
    let results =
        join_all((0..5).map(|_| t.post("/conversations", &cust, booking_body("bk_race")))).await;

    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?} {:?}",
        results.iter().map(|r| &r.json).collect::<Vec<_>>()
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r.json["id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let sids: Vec<&str> = results
        .iter()
        .map(|r| r.json["twilio_conversation_sid"].as_str().unwrap())
        .collect();
    assert!(sids.iter().all(|s| *s == sids[0]), "{sids:?}");
    assert_eq!(t.standin.conversation_count(), 1);

    let detail = t.get(&format!("/conversations/{}", ids[0]), &cust).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.json["participants"].as_array().unwrap().len(), 2);
    assert_eq!(detail.json["analytics"]["participant_count"], 2);
    // Both participants list it exactly once.
    for tok in [customer(), provider()] {
        let list = t.get("/conversations", &tok).await;
        assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
        assert_eq!(list.json["items"][0]["id"], ids[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_both_sides_send_concurrently_it_should_store_every_message_and_count_unread() {
    let t = spawn_app().await;
    let conv = t.create_booking_chat("bk_busy").await;
    let twilio_sid = t.twilio_sid(&conv).await;
    let (cust, prov) = (customer(), provider());
    let (from_customer, from_provider) = (6, 4);

    let sends = (0..from_customer)
        .map(|i| (cust.as_str(), format!("customer {i}")))
        .chain((0..from_provider).map(|i| (prov.as_str(), format!("provider {i}"))))
        .collect::<Vec<_>>();
    let results = join_all(sends.iter().map(|(tok, body)| t.send(&conv, tok, body))).await;
    for r in &results {
        assert_eq!(r.status, 201, "{:?}", r.json);
    }

    let mut stored = t.bodies(&conv, &cust).await;
    stored.sort();
    let mut sent: Vec<String> = sends.iter().map(|(_, b)| b.clone()).collect();
    sent.sort();
    assert_eq!(stored, sent);
    assert_eq!(t.standin.message_count(&twilio_sid), 10);

    let detail = t.get(&format!("/conversations/{conv}"), &cust).await;
    assert_eq!(detail.json["analytics"]["message_count"], 10);
    assert_eq!(detail.json["unread_count"], from_provider);
    assert_eq!(
        t.conversation_unread(&conv, &prov).await,
        from_customer as i64
    );
    assert_eq!(t.unread_total(&cust).await, from_provider as i64);
    assert_eq!(t.unread_total(&prov).await, from_customer as i64);
    let list = t.get("/conversations", &prov).await;
    assert_eq!(list.json["items"][0]["unread_count"], from_customer);

    // The conversation's last message is the newest one stored, whichever
    // write won the races.
    let newest = t
        .get(
            &format!("/conversations/{conv}/messages?order=desc&limit=1"),
            &cust,
        )
        .await;
    let newest = &newest.json["messages"][0];
    assert_eq!(detail.json["last_message"]["id"], newest["id"]);
    assert_eq!(
        detail.json["analytics"]["last_message_at"],
        newest["created_at"]
    );
    assert_eq!(
        list.json["items"][0]["last_activity_at"],
        newest["created_at"]
    );

    // Reading catches up to the newest message, here and at Twilio.
    let read = t.mark_read(&conv, &prov).await;
    assert_eq!(read.status, 200, "{:?}", read.json);
    assert_eq!(read.json["last_read_message_id"], newest["id"]);
    assert_eq!(t.standin.last_read_index(&twilio_sid, "prov_1"), Some(9));
    assert_eq!(t.unread_total(&prov).await, 0);
}
