//! The decision table compiled once per cached principal and action (issue
//! 15): a check looks its rules up instead of collecting every grant and
//! formatting its path labels again on each call. Keyed by the context's
//! serial (a loaded context never changes; a reload gets a new serial, and
//! the old entries age out) and the action; the settings the rules were
//! compiled under are kept, and a change of settings starts afresh. Bounded,
//! with quick_cache's eviction.

use std::sync::{Arc, RwLock};

use crate::domain::principal::PrincipalContext;
use crate::domain::table::{self, Action, Rules, TableSettings};

pub struct CompiledRules {
    rules: quick_cache::sync::Cache<(u64, Action, u64), Arc<Rules>>,
    /// The generation of the settings in `settings`: bumped whenever a check
    /// comes with other settings, so rules compiled under one never answer
    /// for the other (even when a slow compile finishes after the change).
    settings: RwLock<(u64, Option<TableSettings>)>,
}

impl CompiledRules {
    /// Room for `entries` compiled (context, action) pairs.
    pub fn new(entries: usize) -> Self {
        Self { rules: quick_cache::sync::Cache::new(entries.max(16)), settings: RwLock::new((0, None)) }
    }

    /// The rules of `ctx` for `action` under `settings`, compiled at most once
    /// per context (contexts the cache did not load, serial 0, such as the
    /// previewed ones of PreviewAccessChange, are compiled every time).
    pub fn get(&self, ctx: &PrincipalContext, settings: &TableSettings, action: Action) -> Arc<Rules> {
        if ctx.serial == 0 {
            return Arc::new(table::rules(ctx, settings, action));
        }
        let key = (ctx.serial, action, self.generation(settings));
        if let Some(rules) = self.rules.get(&key) {
            return rules;
        }
        let rules = Arc::new(table::rules(ctx, settings, action));
        self.rules.insert(key, rules.clone());
        rules
    }

    fn generation(&self, settings: &TableSettings) -> u64 {
        {
            let held = self.settings.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if held.1.as_ref() == Some(settings) {
                return held.0;
            }
        }
        let mut held = self.settings.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.1.as_ref() != Some(settings) {
            self.rules.clear();
            *held = (held.0 + 1, Some(settings.clone()));
        }
        held.0
    }
}
