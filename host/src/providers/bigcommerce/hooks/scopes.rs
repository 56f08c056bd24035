//! BigCommerce's documented webhook scopes, and how a route pattern becomes the scopes a
//! subscription registers.
//!
//! A pattern that is a documented scope, or a documented wildcard (`store/order/*`), is
//! registered as written. Any other pattern (`**`, a `{param}`, an inner `*`, a wildcard
//! BigCommerce does not offer) cannot be: it is registered as the documented scopes it matches,
//! and the plan says so. Channel scopes (`store/channel/{channel_id}/cart/created`) need a
//! channel id, which a pattern does not give: a pattern that matches them says to list them in
//! `subscribe.scopes` with the ids. Pure data and matching: no I/O.

use crate::scope::{Matcher, Pattern, Scope, Segment};
use std::collections::BTreeSet;

/// Every scope BigCommerce documents that can be registered as it is written: the webhook
/// events page, its channel page (the scopes without a channel id) and its inventory and
/// location page, trailing slashes left out (the pages' payload examples have none).
/// `store/order/transaction/updated` is left out: the events page lists it, but BigCommerce
/// removed it from its callback schemas as an invalid event (docs PR #381, July 2024).
pub const SCOPES: &[&str] = &[
    "store/brand/metafield/created",
    "store/brand/metafield/deleted",
    "store/brand/metafield/updated",
    "store/cart/created",
    "store/cart/updated",
    "store/cart/deleted",
    "store/cart/couponApplied",
    "store/cart/abandoned",
    "store/cart/converted",
    "store/cart/metafield/created",
    "store/cart/metafield/deleted",
    "store/cart/metafield/updated",
    "store/cart/lineItem/created",
    "store/cart/lineItem/updated",
    "store/cart/lineItem/deleted",
    "store/category/created",
    "store/category/updated",
    "store/category/deleted",
    "store/category/metafield/created",
    "store/category/metafield/deleted",
    "store/category/metafield/updated",
    "store/customer/created",
    "store/customer/updated",
    "store/customer/deleted",
    "store/customer/address/created",
    "store/customer/address/updated",
    "store/customer/address/deleted",
    "store/customer/payment/instrument/default/updated",
    "store/hook/deliveryException",
    "store/inventory/location/metafield/created",
    "store/inventory/location/metafield/deleted",
    "store/inventory/location/metafield/updated",
    "store/metafield/created",
    "store/metafield/updated",
    "store/metafield/deleted",
    "store/modifier/updated",
    "store/option/updated",
    "store/order/created",
    "store/order/updated",
    "store/order/archived",
    "store/order/statusUpdated",
    "store/order/message/created",
    "store/order/refund/created",
    "store/order/transaction/created",
    "store/order/metafield/created",
    "store/order/metafield/updated",
    "store/order/metafield/deleted",
    "store/priceList/created",
    "store/priceList/updated",
    "store/priceList/activated",
    "store/priceList/deactivated",
    "store/priceList/deleted",
    "store/priceLists/deleted",
    "store/priceList/record/created",
    "store/priceList/record/updated",
    "store/priceList/record/deleted",
    "store/priceList/records/created",
    "store/priceList/records/updated",
    "store/priceList/records/deleted",
    "store/priceList/assignment/updated",
    "store/priceList/assignment/deleted",
    "store/product/deleted",
    "store/product/created",
    "store/product/updated",
    "store/product/inventory/updated",
    "store/product/inventory/order/updated",
    "store/product/metafield/created",
    "store/product/metafield/updated",
    "store/product/metafield/deleted",
    "store/product/variant/metafield/created",
    "store/product/variant/metafield/updated",
    "store/product/variant/metafield/deleted",
    "store/shipment/created",
    "store/shipment/updated",
    "store/shipment/deleted",
    "store/sku/created",
    "store/sku/updated",
    "store/sku/deleted",
    "store/sku/inventory/updated",
    "store/sku/inventory/order/updated",
    "store/app/uninstalled",
    "store/information/updated",
    "store/subscriber/created",
    "store/subscriber/updated",
    "store/subscriber/deleted",
    "store/channel/created",
    "store/channel/updated",
    "store/customer/channel/login/access/updated",
    "store/channel/metafield/created",
    "store/channel/metafield/updated",
    "store/channel/metafield/deleted",
    "store/channel/*/inventory/product/stock_changed",
    "store/channel/*/inventory/product/low_stock_reached",
    "store/channel/*/inventory/product/out_of_stock_reached",
    "store/channel/*/inventory/product/settings_changed",
    "store/inventory/location/created",
    "store/inventory/location/updated",
];

/// The wildcards BigCommerce documents: a route pattern that is one of these registers as written.
pub const WILDCARDS: &[&str] = &[
    "store/brand/metafield/*",
    "store/cart/*",
    "store/cart/lineItem/*",
    "store/category/*",
    "store/customer/*",
    "store/customer/address/*",
    "store/inventory/location/metafield/*",
    "store/metafield/*",
    "store/order/*",
    "store/product/*",
    "store/product/metafield/*",
    "store/product/variant/metafield/*",
    "store/shipment/*",
    "store/sku/*",
    "store/subscriber/*",
    "store/channel/*",
];

/// The channel page's scopes that name a channel: BigCommerce registers them per channel id,
/// `{channel_id}` replaced by the id.
pub const CHANNEL_SCOPES: &[&str] = &[
    "store/channel/{channel_id}/cart/*",
    "store/channel/{channel_id}/cart/created",
    "store/channel/{channel_id}/cart/updated",
    "store/channel/{channel_id}/cart/deleted",
    "store/channel/{channel_id}/cart/couponApplied",
    "store/channel/{channel_id}/cart/abandoned",
    "store/channel/{channel_id}/cart/converted",
    "store/channel/{channel_id}/cart/lineItem/*",
    "store/channel/{channel_id}/cart/lineItem/created",
    "store/channel/{channel_id}/cart/lineItem/updated",
    "store/channel/{channel_id}/cart/lineItem/deleted",
    "store/channel/{channel_id}/category/*",
    "store/channel/{channel_id}/category/created",
    "store/channel/{channel_id}/category/updated",
    "store/channel/{channel_id}/category/deleted",
    "store/channel/{channel_id}/categoryTree/updated",
    "store/channel/{channel_id}/settings/emailStatus/updated",
    "store/channel/{channel_id}/settings/emailStatus/deleted",
    "store/channel/{channel_id}/email/templates/updated",
    "store/channel/{channel_id}/email/templates/deleted",
    "store/channel/{channel_id}/notifications/abandonedCart/updated",
    "store/channel/{channel_id}/notifications/inventory/updated",
    "store/channel/{channel_id}/order/*",
    "store/channel/{channel_id}/order/created",
    "store/channel/{channel_id}/order/updated",
    "store/channel/{channel_id}/order/archived",
    "store/channel/{channel_id}/order/statusUpdated",
    "store/channel/{channel_id}/order/message/created",
    "store/channel/{channel_id}/order/refund/created",
    "store/channel/{channel_id}/page/created",
    "store/channel/{channel_id}/page/updated",
    "store/channel/{channel_id}/product/assigned",
    "store/channel/{channel_id}/product/unassigned",
    "store/channel/{channel_id}/category/product/assigned",
    "store/channel/{channel_id}/category/product/unassigned",
    "store/channel/{channel_id}/settings/route/updated",
    "store/channel/{channel_id}/script/created",
    "store/channel/{channel_id}/script/updated",
    "store/channel/{channel_id}/settings/*",
    "store/channel/{channel_id}/settings/currency/updated",
    "store/channel/{channel_id}/settings/profile/updated",
    "store/channel/{channel_id}/settings/locale/added",
    "store/channel/{channel_id}/settings/locale/updated",
    "store/channel/{channel_id}/settings/locale/deleted",
    "store/channel/{channel_id}/settings/logo/updated",
    "store/channel/{channel_id}/settings/logo/image/updated",
    "store/channel/{channel_id}/settings/favicon/image/updated",
    "store/channel/{channel_id}/settings/checkout/updated",
    "store/channel/{channel_id}/settings/SEO/updated",
    "store/channel/{channel_id}/settings/robots/updated",
    "store/channel/{channel_id}/settings/category/updated",
    "store/channel/{channel_id}/settings/product/updated",
    "store/channel/{channel_id}/settings/catalog/updated",
    "store/channel/{channel_id}/settings/security/updated",
    "store/channel/{channel_id}/settings/searchContextFilters/updated",
    "store/channel/{channel_id}/settings/defaultCustomerGroup/updated",
    "store/channel/{channel_id}/settings/customerPrivacy/updated",
    "store/channel/{channel_id}/settings/site/updated",
    "store/channel/{channel_id}/settings/site/checkoutUrl/updated",
    "store/channel/{channel_id}/settings/site/checkoutUrl/deleted",
    "store/channel/{channel_id}/socialMediaLinks/updated",
    "store/channel/{channel_id}/theme/configuration/created",
    "store/channel/{channel_id}/theme/configuration/activated",
];

/// The scopes one route pattern registers, and what the plan should say about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registration {
    pub scopes: BTreeSet<String>,
    /// Why the pattern is not registered as written, when it is not.
    pub note: Option<String>,
}

/// What `pattern` registers with BigCommerce.
pub fn registration(pattern: &Pattern) -> Registration {
    let segments = pattern.segments();
    let words: Vec<&str> = segments
        .iter()
        .map_while(|s| match s {
            Segment::Literal(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let written = pattern.as_str();
    let as_written = |scope: String| Registration { scopes: BTreeSet::from([scope]), note: None };
    let is_store = words.first() == Some(&"store");
    if is_store && words.len() == segments.len() {
        let scope = words.join("/");
        if documented(&scope) {
            return as_written(scope);
        }
        let note = format!(
            "`{written}` is not a scope BigCommerce documents: registered as written, BigCommerce may refuse it"
        );
        return Registration { scopes: BTreeSet::from([scope]), note: Some(note) };
    }
    let trailing_wildcard =
        words.len() >= 2 && words.len() + 1 == segments.len() && segments.last() == Some(&Segment::Rest);
    if is_store && trailing_wildcard {
        let wildcard = format!("{}/*", words.join("/"));
        if documented(&wildcard) {
            return as_written(wildcard);
        }
    }
    expanded(pattern)
}

/// A pattern registered as the documented scopes it matches, with the note saying so.
fn expanded(pattern: &Pattern) -> Registration {
    let written = pattern.as_str();
    let matcher = Matcher::new(vec![vec![pattern.clone()]]);
    let matches = |scope: &str| !matcher.matches(&Scope::new(scope)).is_empty();
    let scopes: BTreeSet<String> = SCOPES.iter().filter(|s| matches(s)).map(|s| s.to_string()).collect();
    let channel = CHANNEL_SCOPES.iter().filter(|s| matches(s)).count();
    let mut notes = Vec::new();
    if !scopes.is_empty() {
        notes.push(format!(
            "`{written}` cannot be registered as written: registered as the {} scopes it matches",
            scopes.len()
        ));
    }
    if channel > 0 {
        notes.push(format!(
            "`{written}` matches {channel} channel scopes (store/channel/{{channel_id}}/…), which BigCommerce registers per channel: list them with your channel ids in `subscribe.scopes`"
        ));
    }
    if notes.is_empty() {
        notes.push(format!("`{written}` matches no BigCommerce scope: nothing registered for it"));
    }
    Registration { scopes, note: Some(notes.join("; ")) }
}

/// Whether BigCommerce documents `scope` (or wildcard) as it is written; a channel scope
/// counts with a channel id in place of `{channel_id}`.
pub fn documented(scope: &str) -> bool {
    if SCOPES.contains(&scope) || WILDCARDS.contains(&scope) {
        return true;
    }
    let mut parts = scope.splitn(4, '/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("store"), Some("channel"), Some(id), Some(rest))
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let template = format!("store/channel/{{channel_id}}/{rest}");
            CHANNEL_SCOPES.contains(&template.as_str())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(pattern: &str) -> Registration {
        Pattern::parse(pattern).map(|p| registration(&p)).unwrap_or_default()
    }

    #[test]
    fn documented_scopes_and_wildcards_register_as_written() {
        for written in ["store/order/created", "store/order/*", "store/cart/lineItem/*", "store/hook/deliveryException"]
        {
            assert_eq!(register(written), Registration { scopes: BTreeSet::from([written.to_string()]), note: None });
        }
        assert_eq!(register("store/channel/1/cart/*").note, None, "a channel wildcard with its id");
        assert_eq!(register("store/channel/12/order/created").note, None);
    }

    #[test]
    fn other_patterns_expand_to_the_scopes_they_match_and_say_so() {
        let orders = register("store/order/**");
        let expected: BTreeSet<String> =
            SCOPES.iter().filter(|s| s.starts_with("store/order/")).map(|s| s.to_string()).collect();
        assert_eq!(orders.scopes, expected);
        assert!(orders.note.is_some_and(|n| n.contains("cannot be registered as written")));
        let metafields = register("store/{kind}/metafield/created");
        assert!(metafields.scopes.contains("store/product/metafield/created"));
        assert!(metafields.scopes.contains("store/order/metafield/created"));
        assert_eq!(register("**").scopes.len(), SCOPES.len());
        let prices = register("store/priceList/*");
        assert!(prices.scopes.contains("store/priceList/record/created") && prices.note.is_some(), "no such wildcard");
        assert!(register("store/modifier/**").scopes.contains("store/modifier/updated"));
    }

    #[test]
    fn channel_patterns_say_a_channel_id_is_needed_and_other_platforms_match_nothing() {
        let carts = register("store/channel/{channel_id}/cart/*");
        assert!(carts.scopes.is_empty());
        assert!(carts.note.is_some_and(|n| n.contains("per channel")));
        let none = register("order.created");
        assert!(none.scopes.is_empty() && none.note.is_some_and(|n| n.contains("matches no BigCommerce scope")));
        let undocumented = register("store/order/transaction/updated");
        assert!(undocumented.note.is_some_and(|n| n.contains("not a scope BigCommerce documents")));
    }

    #[test]
    fn the_lists_hold_no_duplicates_and_no_trailing_slashes() {
        for list in [SCOPES, WILDCARDS, CHANNEL_SCOPES] {
            let unique: BTreeSet<&&str> = list.iter().collect();
            assert_eq!(unique.len(), list.len());
            assert!(list.iter().all(|s| s.starts_with("store/") && !s.ends_with('/')));
        }
    }
}
