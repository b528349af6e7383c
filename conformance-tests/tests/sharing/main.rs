//! The sharing policy of docs/sharing.md over real HTTP: TLP 1.0 and 2.0, caps, sharing rules,
//! RED recipients, delays, references, and the per-reader date_added that keeps pollers exact.

mod browser;
mod feedback;
mod five_banks;
mod fixture;
mod follows;
mod hostile_feedback;
mod hostile_follows;
mod identity;
mod mail;
mod noninterference;
mod ownership;
mod poller;
mod rules;
mod streams;
mod thread;
mod web;
mod webhooks;
