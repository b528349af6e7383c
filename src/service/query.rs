//! GET manifest/objects/object/versions and DELETE: typed filters, keyset pages, `next` tokens.

use super::{Cairn, ServiceError};
use crate::policy::{self, Principal, ReadGrant};
use crate::storage::objects::{self, DeleteOutcome, Row, Selection};
use crate::taxii::cursor::Position;
use crate::taxii::query::{Endpoint, Query, SpecVersions, VersionSelector};

/// One page of rows, in (date_added, seq) order.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<Row>,
    pub more: bool,
    pub next: Option<String>,
}

impl Cairn {
    async fn read_grant(
        &self,
        principal: &Principal,
        api_root: &str,
        collection: &str,
    ) -> Result<ReadGrant, ServiceError> {
        let (_, m) = self.membership(principal, api_root, collection).await?;
        let grant = policy::grant_read(principal, &m)?;
        self.release_due(grant.community_id()).await?;
        Ok(grant)
    }

    fn binding(grant: &ReadGrant, endpoint: Endpoint, object: Option<&str>, q: &Query) -> String {
        format!(
            "{}\0{}\0{}\0{}\0{}",
            grant.reader().user,
            endpoint.name(),
            grant.community_id(),
            object.unwrap_or(""),
            q.binding()
        )
    }

    /// Runs one paged listing for objects, manifest, object or versions.
    pub async fn page(
        &self,
        principal: &Principal,
        api_root: &str,
        collection: &str,
        endpoint: Endpoint,
        object: Option<&str>,
        pairs: &[(String, String)],
    ) -> Result<Page, ServiceError> {
        let grant = self.read_grant(principal, api_root, collection).await?;
        let mut q = Query::parse(endpoint, pairs, &self.settings.limits())?;
        if let Some(id) = object {
            if !crate::taxii::query::is_stix_id(id) {
                return Err(ServiceError::NotFound);
            }
            q.ids = vec![id.to_owned()];
        }
        if endpoint == Endpoint::Versions {
            q.versions = VersionSelector::All;
        }
        let binding = Self::binding(&grant, endpoint, object, &q);
        let after = match &q.next {
            Some(token) => Some(
                self.cursor
                    .open(&binding, token)
                    .map_err(|_| ServiceError::BadCursor)?
                    .date_added,
            ),
            None => None,
        };
        let with_body = matches!(endpoint, Endpoint::Objects | Endpoint::Object);
        let object_id = object.map(str::to_owned);
        let (mut rows, exists) = self
            .storage
            .read(move |c| {
                let sel = Selection {
                    ids: &q.ids,
                    types: &q.types,
                    versions: &q.versions,
                    spec_versions: &q.spec_versions,
                    added_after: q.added_after,
                    after,
                    limit: q.limit,
                };
                let rows = objects::list(c, &grant, &sel, with_body)?;
                // An object id that has no version at all is a 404, not an empty page.
                let exists = match &object_id {
                    Some(id) if rows.is_empty() => objects::id_delivered(c, &grant, id)?,
                    _ => true,
                };
                Ok((rows, exists, q.limit))
            })
            .await
            .map(|(rows, exists, limit)| {
                let mut rows = rows;
                let more = rows.len() > limit;
                rows.truncate(limit);
                ((rows, more), exists)
            })?;
        if !exists {
            return Err(ServiceError::NotFound);
        }
        let (ref mut list, more) = rows;
        let next = if more {
            list.last().map(|r| {
                self.cursor.mint(
                    &binding,
                    Position {
                        date_added: r.date_added,
                    },
                )
            })
        } else {
            None
        };
        Ok(Page {
            rows: std::mem::take(list),
            more,
            next,
        })
    }

    pub async fn delete_object(
        &self,
        principal: &Principal,
        api_root: &str,
        collection: &str,
        id: &str,
        pairs: &[(String, String)],
    ) -> Result<usize, ServiceError> {
        let (_, m) = self.membership(principal, api_root, collection).await?;
        // A caller who cannot read gets 404 before anything else is said.
        policy::grant_read(principal, &m)?;
        if !crate::taxii::query::is_stix_id(id) {
            return Err(ServiceError::NotFound);
        }
        let q = Query::parse(Endpoint::Delete, pairs, &self.settings.limits())?;
        let grant = policy::grant_delete(principal, &m)?;
        self.release_due(grant.read().community_id()).await?;
        let id = id.to_owned();
        let versions: VersionSelector = q.versions;
        let spec: SpecVersions = q.spec_versions;
        let now = self.clock.now_micros();
        let outcome = self
            .storage
            .write(move |c| {
                let outcome = objects::delete(c, &grant, &id, &versions, &spec)?;
                if let DeleteOutcome::Deleted(_) = outcome {
                    // Older versions may be delivered again (rule 5), referencing ones withdrawn (rule 6).
                    let community = grant.read().community_id().to_owned();
                    super::deliveries::refresh(
                        c,
                        &community,
                        super::deliveries::Scope::Ids(vec![id.clone()]),
                        now,
                    )?;
                }
                Ok(outcome)
            })
            .await?;
        match outcome {
            DeleteOutcome::NotFound => Err(ServiceError::NotFound),
            DeleteOutcome::BuiltIn => Err(ServiceError::Forbidden(
                "the built-in TLP 2.0 definitions are served to every member and cannot be deleted"
                    .into(),
            )),
            DeleteOutcome::Forbidden => Err(ServiceError::Forbidden(
                "a contributor may delete only the versions its own partner posted".into(),
            )),
            DeleteOutcome::Deleted(n) => Ok(n),
        }
    }
}
