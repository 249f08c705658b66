//! The query engine shared by every list endpoint (algorithms §9): parameters, label and field selectors, default
//! filters, the derived pod status, sorting and paging. Pure: no kube client, axum or tokio.
//!
//! A list handler:
//! 1. parses the raw query pairs with [`ListQuery::parse`] (dynamic endpoints) or [`ListQuery::parse_v1alpha3`]
//!    (which ignores `fieldSelector`); a [`QueryError`] is a 400 with its `Display` as the message;
//! 2. keeps the visible objects (algorithms §9.12) for which [`matches_query`] holds — implementing [`Object`] for
//!    its kind and handling resource-specific filter keys (pods' `status` via [`derived_status`], `ownerReference`
//!    through the ReplicaSet, …) in the `specific` closure — and, on dynamic endpoints, [`FieldSelector::matches`];
//! 3. calls [`sort_and_page`] with a [`SortKey`] function (pods use `status.startTime` for [`SortBy::StartTime`]);
//!    [`Page::total`] is `totalItems` / `metadata.continue`, [`Page::remaining`] `remainingItemCount`.

#![warn(missing_docs)]

pub mod engine;
pub mod field;
pub mod filters;
pub mod params;
pub mod patterns;
pub mod pod_status;
pub mod selector;

pub use engine::{Page, SortBy, SortKey, SortedPrefix, page_bounds, sort_and_page, sort_prefix};
pub use field::{FieldOperator, FieldRequirement, FieldSelector, FieldSelectorError};
pub use filters::{ALIAS_ANNOTATION, Object, default_filter, matches_query, matches_selectors};
pub use params::{FieldSelectorUse, KubeListQuery, ListQuery, QueryError, RESERVED_KEYS};
pub use pod_status::{STATUSES, derived_status, display_reason};
pub use selector::{
    LabelLookup, LabelValue, Operator, Requirement, Selector, SelectorError, WithVirtualSet,
    empty_labels,
};

/// Writes `items` separated by commas: the text form of selectors.
fn write_comma_separated<T: std::fmt::Display>(
    f: &mut std::fmt::Formatter<'_>,
    items: &[T],
) -> std::fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}
