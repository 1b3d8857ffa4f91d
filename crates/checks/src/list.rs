//! Listing without surprises on large clusters: every cluster-wide list goes page by page (the API server
//! caps a response; a 5,000-node cluster's pods do not fit in one), narrowed by field and label selectors
//! where the API allows, so kaic stays cheap for the API server it is checking.

use kube::api::ListParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// Items per page: the size kubectl uses.
pub const PAGE: u32 = 500;

/// Every object matching `params`, fetched in pages of [`PAGE`].
///
/// # Errors
/// The first failing page's [`kube::Error`] (an expired continue token included: the caller retries).
pub async fn all<K>(api: &Api<K>, params: ListParams) -> Result<Vec<K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut params = params.limit(PAGE);
    let mut items = Vec::new();
    loop {
        let page = api.list(&params).await?;
        items.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(items),
        }
    }
}
