//! The reconciliation sweep's bookkeeping for one configured repository.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repository_sweeps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub repository_id: String,
    /// The `ETag` of the open-PR list's first page, for a conditional request.
    pub open_pulls_etag: Option<String>,
    pub swept_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
