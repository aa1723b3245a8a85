//! Drift repair across the cluster: a namespace labelled `managed-by=catalyst` that no
//! wanted environment owns (its PR closed long ago, its row gone, or left over from
//! another installation's database) is deleted. The other half of drift — a managed
//! namespace deleted by hand while its PR is open — is repaired by each environment's
//! own reconcile, which recreates it.

use std::collections::HashMap;

use sea_orm::EntityTrait;

use crate::cluster::{NamespaceState, namespaces};
use crate::store::StoreError;
use crate::store::engine as engine_store;
use crate::store::entities::{pull_request, repository};

use super::{Context, Result, spec};

/// Deletes managed namespaces nobody wants; returns their names.
pub async fn remove_orphans(ctx: &Context) -> Result<Vec<String>> {
    let managed = namespaces::list_managed(&ctx.client).await?;
    if managed.is_empty() {
        return Ok(Vec::new());
    }
    let db = &ctx.db;
    let envs: HashMap<String, _> = engine_store::all_environments(db)
        .await?
        .into_iter()
        .map(|e| (e.namespace.clone(), e))
        .collect();
    let prs: HashMap<String, pull_request::Model> = pull_request::Entity::find()
        .all(db)
        .await
        .map_err(StoreError::from)?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let repos: HashMap<String, repository::Model> = repository::Entity::find()
        .all(db)
        .await
        .map_err(StoreError::from)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut removed = Vec::new();
    for ns in managed {
        if ns.state != NamespaceState::Active {
            continue;
        }
        let owner = envs.get(&ns.name);
        let orphan = match owner {
            None => true,
            // A live environment's own reconcile deletes it when its PR closes.
            Some(env) if env.status != "deleted" => false,
            Some(env) => !prs.get(&env.pull_request_id).is_some_and(|pr| {
                spec::is_wanted(
                    pr,
                    repos.get(&env.repository_id),
                    &ctx.settings.default_policy,
                )
            }),
        };
        if orphan {
            tracing::warn!(namespace = %ns.name, "managed namespace without an open pull request; deleting it");
            namespaces::delete(&ctx.client, &ns.name).await?;
            removed.push(ns.name);
        }
    }
    Ok(removed)
}
