//! Who a profile is, as licensing needs it at login, escalation and seat
//! assignment: its login, whether it is internal, its security group. Asked
//! of identity once, then kept until identity's change feed says the profile
//! changed — a login storm makes no identity call per login (issue 15).
//!
//! - Evictions: a "profile" change evicts that profile; a "security_group" or
//!   "consumer_profile" change everything (rare; a group's removal can clear
//!   profiles' groups); other identity changes nothing.
//! - While the feed's stream is down the cache is not trusted: every lookup
//!   reads through (and fails UNAVAILABLE when identity is down too); a
//!   reconnect starts from an empty cache.
//! - A value loaded while an eviction ran is used but not kept (epochs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use csm_errors::{CsmError, CsmResult};
use csm_proto::common::Change;
use csm_proto::identity::ProfileKind;
use tokio_stream::StreamExt as _;
use uuid::Uuid;

use super::{LicensingApp, Person};
use crate::domain::sessions::PrincipalKind;

/// Profiles kept at most.
const CAPACITY: usize = 100_000;
/// The identity changes that can change a [`Person`].
const WATCHED: &[&str] = &["profile", "security_group", "consumer_profile"];

/// The cache of [`Person`]s, fed by identity's change feed.
pub struct People {
    entries: quick_cache::sync::Cache<Uuid, Arc<Person>>,
    epoch: AtomicU64,
    connected: AtomicBool,
    applied: AtomicU64,
}

impl Default for People {
    fn default() -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(CAPACITY),
            epoch: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            applied: AtomicU64::new(0),
        }
    }
}

impl People {
    fn get(&self, profile: Uuid) -> Option<Arc<Person>> {
        if !self.connected.load(Ordering::Acquire) {
            return None;
        }
        self.entries.get(&profile)
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps `person`, loaded at `epoch`, unless an eviction ran since (or the feed is down).
    fn keep(&self, person: Arc<Person>, epoch: u64) {
        if !self.connected.load(Ordering::Acquire) || self.epoch() != epoch {
            return;
        }
        let profile = person.profile_id;
        self.entries.insert(profile, person);
        // An eviction that raced the insert wins.
        if self.epoch() != epoch {
            self.entries.remove(&profile);
        }
    }

    fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    /// Applies one change of identity's feed.
    pub fn apply(&self, change: &Change) {
        match change.entity_type.as_str() {
            "profile" => match Uuid::parse_str(&change.entity_id) {
                Ok(profile) => {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                    self.entries.remove(&profile);
                }
                Err(_) => self.clear(),
            },
            kind if WATCHED.contains(&kind) => self.clear(),
            _ => {}
        }
        self.applied.fetch_max(change.revision, Ordering::AcqRel);
    }

    /// The feed's stream came up (`true`: start from nothing, changes may
    /// have been missed) or went down (`false`: read through until it is back).
    fn set_connected(&self, connected: bool) {
        if connected {
            self.clear();
        }
        self.connected.store(connected, Ordering::Release);
    }

    /// Profiles kept now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl LicensingApp {
    /// The profile as identity knows it; NOT_FOUND when it does not.
    pub async fn person(&self, profile_id: Uuid) -> CsmResult<Person> {
        if let Some(person) = self.people.get(profile_id) {
            return Ok(Person::clone(&person));
        }
        let epoch = self.people.epoch();
        let facts = self
            .identity
            .profile_licensing_facts(profile_id.into())
            .await?
            .ok_or_else(|| CsmError::not_found("profile", profile_id))?;
        let person = Person {
            profile_id,
            login_id: Uuid::parse_str(&facts.login_id).ok(),
            kind: if facts.kind == ProfileKind::Internal { PrincipalKind::User } else { PrincipalKind::Customer },
            security_group_id: Uuid::parse_str(&facts.security_group_id).ok(),
        };
        self.people.keep(Arc::new(person.clone()), epoch);
        Ok(person)
    }

    /// The person cache.
    pub fn people(&self) -> &People {
        &self.people
    }

    /// Follows identity's feed for the person cache, reconnecting from the
    /// last applied revision, until the future is dropped (with the server).
    pub async fn follow_identity(&self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let from = self.people.applied.load(Ordering::Acquire);
            match self.identity.watch_entities(from, WATCHED).await {
                Ok(mut stream) => {
                    self.people.set_connected(true);
                    backoff = Duration::from_millis(100);
                    while let Some(item) = stream.next().await {
                        match item {
                            Ok(response) => {
                                if let Some(change) = response.change {
                                    self.people.apply(&change);
                                }
                            }
                            Err(status) => {
                                tracing::debug!(code = ?status.code(), "licensing: identity watch ended");
                                break;
                            }
                        }
                    }
                    self.people.set_connected(false);
                }
                Err(error) => {
                    self.people.set_connected(false);
                    tracing::debug!(reason = error.reason(), "licensing: identity watch not available yet");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(profile_id: Uuid) -> Arc<Person> {
        Arc::new(Person { profile_id, login_id: None, kind: PrincipalKind::User, security_group_id: None })
    }

    fn change(entity_type: &str, entity_id: &str, revision: u64) -> Change {
        Change { revision, entity_type: entity_type.to_owned(), entity_id: entity_id.to_owned(), ..Change::default() }
    }

    #[test]
    fn nothing_is_kept_or_served_while_the_feed_is_down() {
        let people = People::default();
        let profile = Uuid::now_v7();
        people.keep(person(profile), people.epoch());
        assert!(people.get(profile).is_none());
        people.set_connected(true);
        people.keep(person(profile), people.epoch());
        assert!(people.get(profile).is_some());
        people.set_connected(false);
        assert!(people.get(profile).is_none(), "a down feed reads through");
        people.set_connected(true);
        assert!(people.is_empty(), "a reconnect starts from nothing");
    }

    #[test]
    fn a_profile_change_evicts_that_profile_and_a_group_change_everything() {
        let people = People::default();
        people.set_connected(true);
        let (one, two) = (Uuid::now_v7(), Uuid::now_v7());
        people.keep(person(one), people.epoch());
        people.keep(person(two), people.epoch());
        people.apply(&change("session", &one.to_string(), 3));
        assert_eq!(people.len(), 2, "sessions do not change a person");
        people.apply(&change("profile", &one.to_string(), 4));
        assert!(people.get(one).is_none() && people.get(two).is_some());
        people.apply(&change("security_group", "g", 5));
        assert!(people.is_empty());
        assert_eq!(people.applied.load(Ordering::Acquire), 5);
    }

    #[test]
    fn a_value_loaded_across_an_eviction_is_not_kept() {
        let people = People::default();
        people.set_connected(true);
        let profile = Uuid::now_v7();
        let loaded_at = people.epoch();
        people.apply(&change("profile", &profile.to_string(), 1));
        people.keep(person(profile), loaded_at);
        assert!(people.get(profile).is_none());
    }
}
