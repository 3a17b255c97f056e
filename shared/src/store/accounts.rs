//! Chat accounts (which provider address belongs to which org) and the
//! inbound messages nobody could route.
//!
//! | item                  | PK                              | SK           | GSI1PK / GSI1SK |
//! |-----------------------|---------------------------------|--------------|-----------------|
//! | chat account          | `ACCOUNT#<provider>#<address>`  | `#ACCOUNT`   | `ORG#<org>#ACCOUNTS` / `<address>` |
//! | org settings          | `ORGSETTINGS#<org>`             | `#SETTINGS`  | — |
//! | claim (rate limit)    | `CLAIM#<key>`                   | `#CLAIM`     | — (`expires_at` TTL) |
//! | unroutable message    | `UNROUTABLE`                    | `<received>#<sid>` | `PARKED#<provider>#<to>` / `<received>#<sid>` (awaiting a registration) |

use super::item::*;
use super::*;
use crate::domain::{Channel, Provider};
use crate::model::{ParkedMessage, Secret};
use crate::ports::AccountStore;

/// GSI1 partition of the messages parked awaiting a provider's address.
fn parked_key(provider: Provider, address: &str) -> String {
    format!("PARKED#{provider}#{address}")
}

pub(super) fn account_key(provider: Provider, address: &str) -> Item {
    key(format!("ACCOUNT#{provider}#{address}"), "#ACCOUNT")
}

fn account_from(i: &Item) -> Result<ChatAccount, StoreError> {
    Ok(ChatAccount {
        provider: Provider::parse(&req_s(i, "provider")?)
            .map_err(|e| StoreError::Corrupt(format!("chat account: {e}")))?,
        address: req_s(i, "address")?,
        org_id: req_s(i, "org_id")?,
        channel: match get_s(i, "channel") {
            None => Channel::default(),
            Some(c) => {
                Channel::parse(&c).map_err(|e| StoreError::Corrupt(format!("chat account: {e}")))?
            }
        },
        created_at: get_s(i, "created_at").unwrap_or_default(),
        created_by: get_s(i, "created_by").unwrap_or_default(),
        access_token: get_s(i, "access_token").map(Secret),
        twilio_account_sid: get_s(i, "twilio_account_sid"),
    })
}

/// Whether a re-registration changes a credential field (a field not
/// given changes nothing).
pub(crate) fn changes(existing: &ChatAccount, acc: &ChatAccount) -> bool {
    (acc.access_token.is_some() && existing.access_token != acc.access_token)
        || (acc.twilio_account_sid.is_some()
            && existing.twilio_account_sid != acc.twilio_account_sid)
}

/// `existing` with the credential fields `acc` gives.
pub(crate) fn updated(existing: ChatAccount, acc: &ChatAccount) -> ChatAccount {
    ChatAccount {
        access_token: acc.access_token.clone().or(existing.access_token.clone()),
        twilio_account_sid: acc
            .twilio_account_sid
            .clone()
            .or(existing.twilio_account_sid.clone()),
        ..existing
    }
}

fn settings_key(org: &str) -> Item {
    key(format!("ORGSETTINGS#{org}"), "#SETTINGS")
}

impl AccountStore for Store {
    async fn org_settings(&self, org: &str) -> Result<crate::model::OrgSettings, StoreError> {
        Ok(match self.get(settings_key(org)).await? {
            None => crate::model::OrgSettings::default(),
            Some(i) => crate::model::OrgSettings {
                read_receipts: get_bool(&i, "read_receipts").unwrap_or(false),
                typing_indicators: get_bool(&i, "typing_indicators").unwrap_or(false),
            },
        })
    }

    async fn put_org_settings(
        &self,
        org: &str,
        settings: &crate::model::OrgSettings,
        at: &str,
    ) -> Result<(), StoreError> {
        let mut item = settings_key(org);
        item.insert("org_id".into(), s(org));
        item.insert("read_receipts".into(), b(settings.read_receipts));
        item.insert("typing_indicators".into(), b(settings.typing_indicators));
        item.insert("updated_at".into(), s(at));
        self.put_item(item).await
    }

    async fn claim(
        &self,
        claim: &str,
        now: &str,
        not_before: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut item = key(format!("CLAIM#{claim}"), "#CLAIM");
        item.insert("at".into(), s(now));
        item.insert("expires_at".into(), n(expires_at));
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #at < :nb")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":nb", s(not_before))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn chat_account(
        &self,
        provider: Provider,
        address: &str,
    ) -> Result<Option<ChatAccount>, StoreError> {
        self.get(account_key(provider, address))
            .await?
            .map(|i| account_from(&i))
            .transpose()
    }

    async fn put_chat_account(&self, acc: &ChatAccount) -> Result<PutAccount, StoreError> {
        let mut item = account_key(acc.provider, &acc.address);
        item.insert("provider".into(), s(acc.provider.as_str()));
        item.insert("address".into(), s(&acc.address));
        item.insert("org_id".into(), s(&acc.org_id));
        item.insert("channel".into(), s(acc.channel.as_str()));
        item.insert("created_at".into(), s(&acc.created_at));
        item.insert("created_by".into(), s(&acc.created_by));
        if let Some(token) = &acc.access_token {
            item.insert("access_token".into(), s(token.expose()));
        }
        if let Some(sid) = &acc.twilio_account_sid {
            item.insert("twilio_account_sid".into(), s(sid));
        }
        item.insert("GSI1PK".into(), s(format!("ORG#{}#ACCOUNTS", acc.org_id)));
        item.insert("GSI1SK".into(), s(&acc.address));
        if self.put_new(item).await? {
            return Ok(PutAccount::Created);
        }
        match self.chat_account(acc.provider, &acc.address).await? {
            // Re-registering a number with a new Meta token or another of
            // the org's Twilio accounts rotates it (what is not given stays).
            Some(existing) if existing.org_id == acc.org_id && changes(&existing, acc) => {
                let mut sets = Vec::new();
                let mut req = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(account_key(acc.provider, &acc.address)))
                    .condition_expression("org_id = :o")
                    .expression_attribute_values(":o", s(&acc.org_id));
                if let Some(token) = &acc.access_token {
                    sets.push("access_token = :t");
                    req = req.expression_attribute_values(":t", s(token.expose()));
                }
                if let Some(sid) = &acc.twilio_account_sid {
                    sets.push("twilio_account_sid = :a");
                    req = req.expression_attribute_values(":a", s(sid));
                }
                let res = req
                    .update_expression(format!("SET {}", sets.join(", ")))
                    .send()
                    .await;
                match res {
                    Ok(_) => Ok(PutAccount::Unchanged(updated(existing, acc))),
                    Err(e) if is_condition_failure(&e) => Ok(PutAccount::OwnedByOther),
                    Err(e) => Err(sdk_err(e)),
                }
            }
            Some(existing) if existing.org_id == acc.org_id => Ok(PutAccount::Unchanged(existing)),
            _ => Ok(PutAccount::OwnedByOther),
        }
    }

    async fn delete_chat_account(
        &self,
        provider: Provider,
        address: &str,
        org: &str,
    ) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(account_key(provider, address)))
            .condition_expression("org_id = :o")
            .expression_attribute_values(":o", s(org))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn org_chat_accounts(&self, org: &str) -> Result<Vec<ChatAccount>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :p")
                .expression_attribute_values(":p", s(format!("ORG#{org}#ACCOUNTS")))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            keys.extend(
                out.items()
                    .iter()
                    .filter_map(|i| Some(key(get_s(i, "PK")?, get_s(i, "SK")?))),
            );
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        let mut accounts = self
            .batch_get(keys)
            .await?
            .iter()
            .map(account_from)
            .collect::<Result<Vec<_>, _>>()?;
        accounts.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(accounts)
    }

    async fn park_unroutable(
        &self,
        received_at: &str,
        sid: &str,
        to: &str,
        envelope_json: &str,
        awaiting: Option<Provider>,
    ) -> Result<(), StoreError> {
        let mut item = key("UNROUTABLE", format!("{received_at}#{sid}"));
        match awaiting {
            Some(provider) => {
                item.insert("GSI1PK".into(), s(parked_key(provider, to)));
                item.insert("GSI1SK".into(), s(format!("{received_at}#{sid}")));
            }
            // Told apart from messages parked before the GSI1 key existed,
            // which a registration still replays (see `parked_for`).
            None => {
                item.insert("awaiting".into(), s("none"));
            }
        }
        item.insert("to".into(), s(to));
        item.insert("message_sid".into(), s(sid));
        item.insert("received_at".into(), s(received_at));
        item.insert("envelope".into(), s(envelope_json));
        self.put_item(item).await
    }

    async fn list_unroutable(
        &self,
        limit: i32,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :p")
            .expression_attribute_values(":p", s("UNROUTABLE"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out
            .items()
            .iter()
            .map(|i| {
                (
                    get_s(i, "received_at").unwrap_or_default(),
                    get_s(i, "message_sid").unwrap_or_default(),
                    get_s(i, "to").unwrap_or_default(),
                )
            })
            .collect())
    }

    async fn parked_for(
        &self,
        provider: Provider,
        address: &str,
        limit: i32,
    ) -> Result<Vec<ParkedMessage>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :p")
            .expression_attribute_values(":p", s(parked_key(provider, address)))
            .limit(limit)
            .send()
            .await
            .map_err(sdk_err)?;
        let mut keys: Vec<Item> = out
            .items()
            .iter()
            .filter_map(|i| Some(key(get_s(i, "PK")?, get_s(i, "SK")?)))
            .collect();
        // Messages parked before the GSI1 key existed (Twilio numbers then):
        // found by their `to` in the unroutable partition, a few pages.
        if provider == Provider::Twilio && (keys.len() as i32) < limit {
            let mut start = None;
            for _ in 0..5 {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :p")
                    .filter_expression(
                        "#to = :a AND attribute_not_exists(GSI1PK) AND attribute_not_exists(awaiting)",
                    )
                    .expression_attribute_names("#to", "to")
                    .expression_attribute_values(":p", s("UNROUTABLE"))
                    .expression_attribute_values(":a", s(address))
                    .set_exclusive_start_key(start)
                    .limit(200)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                keys.extend(
                    page.items()
                        .iter()
                        .filter_map(|i| Some(key(get_s(i, "PK")?, get_s(i, "SK")?))),
                );
                start = page.last_evaluated_key().cloned();
                if start.is_none() || keys.len() as i32 >= limit {
                    break;
                }
            }
            keys.truncate(limit.max(0) as usize);
        }
        let mut parked = self
            .batch_get(keys)
            .await?
            .iter()
            .map(|i| {
                Ok(ParkedMessage {
                    received_at: req_s(i, "received_at")?,
                    sid: req_s(i, "message_sid")?,
                    envelope: req_s(i, "envelope")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        parked.sort_by(|a, b| (&a.received_at, &a.sid).cmp(&(&b.received_at, &b.sid)));
        Ok(parked)
    }

    async fn unpark(&self, received_at: &str, sid: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key("UNROUTABLE", format!("{received_at}#{sid}"))))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}
