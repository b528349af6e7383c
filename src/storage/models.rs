//! Rows as stored. JSON lists (types, exclude) are kept as JSON text for portability.

use super::schema::*;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = partners, treat_none_as_null = true)]
pub struct PartnerRow {
    pub id: String,
    pub title: String,
    pub enabled: bool,
    /// `[[partner]] identity`; `None`: the one derived from the id (`policy::identity`).
    pub identity: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub name: String,
    pub partner_id: String,
    pub password_hash: String,
    pub max_tlp: String,
    pub types: String,
    pub redistributes: bool,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = communities, treat_none_as_null = true)]
pub struct CommunityRow {
    pub id: String,
    pub collection_id: String,
    pub title: String,
    pub description: Option<String>,
    pub unmarked: String,
    pub types: String,
    pub delay_secs: i64,
    pub backlog: bool,
    pub dangling_refs: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub community_id: String,
    pub partner_id: String,
    pub role: String,
    pub max_tlp: String,
    pub joined_at: i64,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sharing_rules)]
pub struct RuleRow {
    pub community_id: String,
    pub producer_id: String,
    pub exclude: String,
    pub delay_secs: i64,
    pub types: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::webhooks)]
pub struct WebhookRow {
    /// `owner` and the URL: one webhook per owner and URL.
    pub id: String,
    /// `user:NAME` or `partner:ID`.
    pub owner: String,
    pub url: String,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::mailboxes)]
pub struct MailboxRow {
    /// `owner` and the address: one mailbox per owner and address.
    pub id: String,
    /// `user:NAME` or `partner:ID`.
    pub owner: String,
    pub address: String,
    /// `immediate` or `daily`.
    pub schedule: String,
    /// The daily digest's time, in minutes after midnight UTC.
    pub digest_minute: i64,
    /// When it was first set up: older notifications are not mailed.
    pub created_at: i64,
}
