//! Contact identities: which conversation each address of a contact (its
//! BSUID, its phone number) belongs to.
//!
//! | item          | PK                                         | SK           |
//! |---------------|--------------------------------------------|--------------|
//! | contact link  | `CONTACTID#<org>#<provider>#<address>`     | `#CONTACTID` |

use super::item::*;
use super::*;
use crate::domain::Provider;
use crate::ports::ContactStore;

fn link_key(org: &str, provider: Provider, address: &str) -> Item {
    key(
        format!("CONTACTID#{org}#{provider}#{address}"),
        "#CONTACTID",
    )
}

impl ContactStore for Store {
    async fn contact_links(
        &self,
        org: &str,
        provider: Provider,
        addresses: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let keys = addresses
            .iter()
            .map(|a| link_key(org, provider, a))
            .collect();
        self.batch_get(keys)
            .await?
            .iter()
            .map(|i| Ok((req_s(i, "address")?, req_s(i, "conversation_id")?)))
            .collect()
    }

    async fn link_contact(
        &self,
        org: &str,
        provider: Provider,
        address: &str,
        conversation_id: &str,
    ) -> Result<String, StoreError> {
        let mut item = link_key(org, provider, address);
        item.insert("address".into(), s(address));
        item.insert("conversation_id".into(), s(conversation_id));
        item.insert("org_id".into(), s(org));
        if self.put_new(item).await? {
            return Ok(conversation_id.to_string());
        }
        let existing = self
            .get(link_key(org, provider, address))
            .await?
            .ok_or_else(|| StoreError::Unavailable("a contact link vanished".into()))?;
        req_s(&existing, "conversation_id")
    }
}
