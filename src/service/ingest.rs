//! POST objects: parse, check each object on its own, store the good ones in one transaction,
//! and record a status resource. One bad object never stops the others.

use super::{Cairn, ServiceError};
use crate::policy::{self, Principal};
use crate::stix::{self, UploadError};
use crate::storage::objects::{self, InsertOutcome, NewVersion};
use crate::storage::statuses;
use crate::taxii::resources::{Status, StatusDetail};
use crate::taxii::timestamp::format_micros;

impl Cairn {
    pub async fn add_objects(
        &self,
        principal: &Principal,
        api_root: &str,
        collection: &str,
        body: String,
    ) -> Result<Status, ServiceError> {
        let (_, m) = self.membership(principal, api_root, collection).await?;
        let grant = policy::grant_write(principal, &m)?;
        let text = body;
        // Parsing and checking are CPU work: keep them off the async workers too.
        let (items, mut failures) = tokio::task::spawn_blocking(move || check_all(&text))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))??;
        let total = (items.len() + failures.len()) as u64;
        let now = self.clock.now_micros();
        let status_id = uuid::Uuid::new_v4().to_string();
        let partner = principal.partner.clone();
        let retention_start = now
            - self
                .settings
                .status_retention
                .num_microseconds()
                .unwrap_or(i64::MAX);
        let status = self
            .storage
            .write(move |c| {
                let news: Vec<NewVersion> = items.iter().map(|(_, n)| n.clone()).collect();
                let outcomes = objects::insert_versions(c, &grant, now, &news)?;
                let mut successes = vec![];
                for ((index, item), outcome) in items.iter().zip(outcomes) {
                    match outcome {
                        InsertOutcome::Added(version) => {
                            successes.push(StatusDetail { id: item.stix_id.clone(), version, message: None })
                        }
                        InsertOutcome::Duplicate(version) => successes.push(StatusDetail {
                            id: item.stix_id.clone(),
                            version,
                            message: Some("this version was already stored; kept once".into()),
                        }),
                        InsertOutcome::Conflict(version) => failures.push((
                            *index,
                            StatusDetail {
                                id: item.stix_id.clone(),
                                message: Some(format!(
                                    "a different object with this id and version ({version}) is already stored; \
                                     a changed object needs a later modified timestamp"
                                )),
                                version,
                            },
                        )),
                    }
                }
                failures.sort_by_key(|(i, _)| *i);
                let status = Status {
                    id: status_id.clone(),
                    status: "complete".into(),
                    request_timestamp: format_micros(now),
                    total_count: total,
                    success_count: successes.len() as u64,
                    successes,
                    failure_count: failures.len() as u64,
                    failures: failures.into_iter().map(|(_, d)| d).collect(),
                    pending_count: 0,
                    pendings: vec![],
                };
                let json = serde_json::to_string(&status).expect("status serialises");
                statuses::insert(c, &status.id, &partner, now, &json)?;
                statuses::purge(c, retention_start)?;
                Ok(status)
            })
            .await?;
        tracing::info!(
            status = %status.id,
            partner = %principal.partner,
            total = status.total_count,
            succeeded = status.success_count,
            failed = status.failure_count,
            "objects posted"
        );
        Ok(status)
    }
}

type Checked = (Vec<(usize, NewVersion)>, Vec<(usize, StatusDetail)>);

fn check_all(text: &str) -> Result<Checked, ServiceError> {
    let upload = stix::parse_upload(text).map_err(|e| match e {
        UploadError::NotJson(m) => ServiceError::NotJson(m),
        UploadError::Shape(m) => ServiceError::Unprocessable(m),
    })?;
    let mut items = vec![];
    let mut failures = vec![];
    for (index, raw) in upload.objects.iter().enumerate() {
        match stix::check_object(raw, index) {
            Ok(c) => items.push((
                index,
                NewVersion {
                    stix_id: c.id,
                    stix_type: c.stix_type,
                    version: c.version,
                    spec_version: c.spec_version,
                    body: raw.get().to_owned(),
                },
            )),
            Err(r) => failures.push((
                index,
                StatusDetail {
                    id: r.id.clone(),
                    version: r.version.clone(),
                    message: Some(r.message()),
                },
            )),
        }
    }
    Ok((items, failures))
}
