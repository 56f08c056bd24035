//! What to change so a store's registered hooks match what the config wants: pure, so `plan`
//! prints exactly what `apply` will do.
//!
//! A hook whose destination is the source's `public_url` is this gateway's: it is kept when a
//! route needs its scope (updated when its headers differ, reactivated when BigCommerce
//! deactivated it), and deleted when none does or another hook has the scope already. A hook
//! to any other destination was not made by this gateway: it is listed and left alone, unless
//! `--prune` is given. A hook to another subscribing source of this gateway is that source's
//! business, and never touched here.

use super::api::Hook;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What the config wants registered for one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub destination: String,
    pub scopes: BTreeSet<String>,
    pub headers: BTreeMap<String, String>,
    /// The `public_url`s of the gateway's other subscribing sources.
    pub siblings: BTreeSet<String>,
}

/// One change to one store's hooks, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create {
        scope: String,
    },
    /// This gateway's hook, with headers that are not the configured ones.
    Update {
        id: i64,
        scope: String,
    },
    /// This gateway's hook, deactivated by BigCommerce (after failed deliveries).
    Reactivate {
        id: i64,
        scope: String,
    },
    /// This gateway's hook that no route needs (or a second one for a scope).
    Delete {
        id: i64,
        scope: String,
        why: &'static str,
    },
    /// A hook this gateway did not make; `prune` deletes it.
    Foreign {
        id: i64,
        scope: String,
        destination: String,
        prune: bool,
    },
    Keep {
        id: i64,
        scope: String,
    },
}

impl Change {
    /// Whether applying this calls the API.
    pub fn acts(&self) -> bool {
        match self {
            Change::Keep { .. } => false,
            Change::Foreign { prune, .. } => *prune,
            _ => true,
        }
    }
}

/// The changes for one store, in a stable order: this gateway's hooks by scope, then new
/// ones, then foreign ones.
pub fn plan(wanted: &Wanted, hooks: &[Hook], prune: bool) -> Vec<Change> {
    let mut hooks: Vec<&Hook> = hooks.iter().filter(|h| !wanted.siblings.contains(&h.destination)).collect();
    hooks.sort_by(|a, b| (&a.scope, !a.is_active, a.id).cmp(&(&b.scope, !b.is_active, b.id)));
    let mut claimed = BTreeSet::new();
    let mut ours = Vec::new();
    let mut foreign = Vec::new();
    for hook in hooks {
        let (id, scope) = (hook.id, hook.scope.clone());
        if hook.destination != wanted.destination {
            let destination = hook.destination.clone();
            foreign.push(Change::Foreign { id, scope, destination, prune });
            continue;
        }
        let change = if !wanted.scopes.contains(&hook.scope) {
            Change::Delete { id, scope, why: "no route needs this scope" }
        } else if !claimed.insert(hook.scope.clone()) {
            Change::Delete { id, scope, why: "another hook has this scope" }
        } else if !hook.is_active {
            Change::Reactivate { id, scope }
        } else if hook.headers != wanted.headers {
            Change::Update { id, scope }
        } else {
            Change::Keep { id, scope }
        };
        ours.push(change);
    }
    let missing = wanted.scopes.iter().filter(|s| !claimed.contains(*s));
    ours.extend(missing.map(|scope| Change::Create { scope: scope.clone() }));
    ours.extend(foreign);
    ours
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Create { scope } => write!(f, "+ create      {scope}"),
            Change::Update { id, scope } => write!(f, "~ update      #{id} {scope} (headers differ)"),
            Change::Reactivate { id, scope } => {
                write!(f, "^ reactivate  #{id} {scope} (BigCommerce deactivated it)")
            }
            Change::Delete { id, scope, why } => write!(f, "- delete      #{id} {scope} ({why})"),
            Change::Foreign { id, scope, destination, prune: true } => {
                write!(f, "- delete      #{id} {scope} → {destination} (not made by this gateway; --prune)")
            }
            Change::Foreign { id, scope, destination, prune: false } => {
                write!(f, "! not ours    #{id} {scope} → {destination} (left alone; --prune deletes it)")
            }
            Change::Keep { id, scope } => write!(f, "= keep        #{id} {scope}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = "https://gw.example.com/hooks/bc";

    fn hook(id: i64, scope: &str, destination: &str, is_active: bool) -> Hook {
        Hook { id, scope: scope.into(), destination: destination.into(), is_active, headers: BTreeMap::new() }
    }

    fn wanted(scopes: &[&str]) -> Wanted {
        Wanted {
            destination: US.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            headers: BTreeMap::new(),
            siblings: BTreeSet::from(["https://gw.example.com/hooks/other".to_string()]),
        }
    }

    #[test]
    fn an_empty_store_gets_every_scope_and_a_matching_one_nothing() {
        let want = wanted(&["store/cart/*", "store/order/*"]);
        let first = plan(&want, &[], false);
        assert_eq!(
            first,
            [Change::Create { scope: "store/cart/*".into() }, Change::Create { scope: "store/order/*".into() }]
        );
        let hooks = [hook(1, "store/order/*", US, true), hook(2, "store/cart/*", US, true)];
        assert!(plan(&want, &hooks, false).iter().all(|c| !c.acts()), "applied, nothing is left to do");
    }

    #[test]
    fn ours_is_reactivated_updated_or_deleted_and_foreign_ones_are_left_unless_pruned() {
        let mut want = wanted(&["store/order/*", "store/cart/*"]);
        want.headers.insert("X-Auth".into(), "k".into());
        let mut updated = hook(3, "store/cart/*", US, true);
        updated.headers.insert("X-Auth".into(), "old".into());
        let hooks = [
            hook(1, "store/order/*", US, false),
            hook(2, "store/product/*", US, true),
            updated,
            hook(4, "store/order/*", "https://other.example.com/", true),
            hook(5, "store/order/*", "https://gw.example.com/hooks/other", true),
        ];
        let got = plan(&want, &hooks, false);
        assert!(got.contains(&Change::Reactivate { id: 1, scope: "store/order/*".into() }));
        assert!(got.contains(&Change::Update { id: 3, scope: "store/cart/*".into() }));
        assert!(got.iter().any(|c| matches!(c, Change::Delete { id: 2, .. })));
        assert!(got.iter().any(|c| matches!(c, Change::Foreign { id: 4, prune: false, .. })));
        assert_eq!(got.iter().filter(|c| c.acts()).count(), 3);
        let pruned = plan(&want, &hooks, true);
        assert!(pruned.iter().any(|c| matches!(c, Change::Foreign { id: 4, prune: true, .. })));
        assert!(!pruned.iter().any(|c| format!("{c}").contains("#5")), "another source's hook is never touched");
    }

    #[test]
    fn of_two_hooks_for_one_scope_the_active_one_stays() {
        let hooks = [hook(1, "store/order/*", US, false), hook(2, "store/order/*", US, true)];
        let got = plan(&wanted(&["store/order/*"]), &hooks, false);
        assert_eq!(
            got,
            [
                Change::Keep { id: 2, scope: "store/order/*".into() },
                Change::Delete { id: 1, scope: "store/order/*".into(), why: "another hook has this scope" }
            ]
        );
    }
}
