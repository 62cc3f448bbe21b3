//! Use cases of named agent seats (R7.9–R7.13, R4.21): seat plans per
//! product, seats granted by name within a plan's limit, HasAgentLicense.

use chrono::{DateTime, Utc};
use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_changefeed::{NewChange, Operation};
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use super::{LicensingApp, parse_id_token};
use crate::domain::agent_seats::{
    self, AgentLicenseStatus, AgentSeat, LicensedProduct, SeatKind, SeatPlan, SeatPlanPatch,
};
use crate::domain::sessions::PrincipalKind;
use crate::domain::usage::{Denial, DenialReason};
use crate::store::TableRecord as _;
use crate::store::agent_seats::agent_seat_exists;

pub struct AgentLicense {
    pub status: AgentLicenseStatus,
    pub seat_plan_id: Option<Uuid>,
    pub agent_seat_id: Option<Uuid>,
}

impl LicensingApp {
    pub async fn create_plan(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        product: LicensedProduct,
        seat_limit: i64,
        license_valid_until: Option<DateTime<Utc>>,
    ) -> CsmResult<(SeatPlan, String)> {
        let key = RequestKey::new(
            "CreateSeatPlan",
            caller.request_scope(),
            request_id.as_deref(),
            &(product, seat_limit, license_valid_until),
        );
        let outcome = self.create_plan_once(caller, &key, product, seat_limit, license_valid_until).await;
        self.settled(&key, outcome, |id| self.get_plan(id)).await
    }

    async fn create_plan_once(
        &self,
        caller: &Caller,
        key: &RequestKey<'_>,
        product: LicensedProduct,
        seat_limit: i64,
        license_valid_until: Option<DateTime<Utc>>,
    ) -> CsmResult<(SeatPlan, String)> {
        self.require_admin(caller, "CreateSeatPlan").await?;
        let build = || {
            let now = csm_db::now();
            SeatPlan {
                id: Uuid::now_v7(),
                product,
                seat_limit,
                seats_used: 0,
                license_valid_until,
                created_at: now,
                updated_at: now,
            }
        };
        self.create_record(key, build, |change| change).await
    }

    pub async fn get_plan(&self, plan_id: Uuid) -> CsmResult<SeatPlan> {
        self.find(plan_id).await
    }

    pub async fn update_plan(
        &self,
        caller: &Caller,
        plan_id: Uuid,
        patch: SeatPlanPatch,
    ) -> CsmResult<(SeatPlan, String)> {
        self.require_admin(caller, "UpdateSeatPlan").await?;
        let mut plan = self.get_plan(plan_id).await?;
        patch.apply_to(&mut plan);
        plan.updated_at = csm_db::now();
        self.save_edited(&plan).await
    }

    pub async fn list_plans(&self, page: &PageRequest) -> CsmResult<(Vec<SeatPlan>, String)> {
        let after = page.after_key(|token| token.parse::<i64>().ok())?;
        let rows = self.store.list_plans(after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |plan| (plan.product as i64).to_string()))
    }

    /// GrantAgentSeat (R7.10, R7.11, R7.13).
    pub async fn grant_agent_seat(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        plan_id: Uuid,
        profile_id: Uuid,
        kind: SeatKind,
    ) -> CsmResult<(AgentSeat, String)> {
        let key = RequestKey::new(
            "GrantAgentSeat",
            caller.request_scope(),
            request_id.as_deref(),
            &(plan_id, profile_id, kind),
        );
        let outcome = self.grant_agent_seat_once(caller, &key, plan_id, profile_id, kind).await;
        self.settled(&key, outcome, |id| self.agent_seat(id)).await
    }

    async fn agent_seat(&self, seat_id: Uuid) -> CsmResult<AgentSeat> {
        self.store.agent_seat(seat_id).await?.ok_or_else(|| CsmError::not_found("agent seat", seat_id))
    }

    async fn grant_agent_seat_once(
        &self,
        caller: &Caller,
        key: &RequestKey<'_>,
        plan_id: Uuid,
        profile_id: Uuid,
        kind: SeatKind,
    ) -> CsmResult<(AgentSeat, String)> {
        self.require_admin(caller, "GrantAgentSeat").await?;
        let plan = self.get_plan(plan_id).await?;
        self.person(profile_id).await?;
        if !kind.fits(plan.product) {
            return Err(CsmError::failed_precondition(
                "SEAT_KIND_PRODUCT_MISMATCH",
                "collaborator seats exist only on JIRA plans, agent seats only on the others (R7.13)",
            ));
        }
        if let Some(replayed) = self.replayed(key, |id| self.agent_seat(id)).await? {
            return Ok(replayed);
        }
        let now = csm_db::now();
        let mut tx = self.store.begin().await?;
        // The guarded counter first: it is the write that decides (R7.11).
        if !self.store.take_plan_seat(&mut tx, plan_id).await? {
            let exists = self.store.agent_seat_of(&mut tx, plan_id, profile_id).await?;
            drop(tx);
            if exists {
                return Err(agent_seat_exists());
            }
            let error = CsmError::resource_exhausted(
                "AGENT_SEATS_EXHAUSTED",
                format!("all {} seats of the plan are granted", plan.seat_limit),
            )
            .with_metadata("seat_plan_id", plan_id.to_string());
            let denial = Denial {
                id: Uuid::now_v7(),
                reason: DenialReason::AgentSeatsExhausted,
                pool_id: None,
                seat_plan_id: Some(plan_id),
                session_id: None,
                login_id: None,
                profile_id: Some(profile_id),
                channel: 0,
                access: 0,
                record_type: String::new(),
                record_id: String::new(),
                occurred_at: now,
            };
            return Err(self.deny(denial, error).await);
        }
        let seat = AgentSeat {
            id: Uuid::now_v7(),
            seat_plan_id: plan_id,
            product: plan.product,
            profile_id,
            kind,
            granted_at: now,
        };
        self.store.insert_agent_seat(&mut tx, &seat).await?;
        let change = NewChange::new("agent_seat", seat.id, Operation::Created)
            .attribute("seat_plan_id", plan_id)
            .attribute("profile_id", profile_id);
        let token = self.commit_created(tx, key, seat.id, &change).await?;
        Ok((seat, token))
    }

    pub async fn revoke_agent_seat(&self, caller: &Caller, seat_id: Uuid) -> CsmResult<(SeatPlan, String)> {
        self.require_admin(caller, "RevokeAgentSeat").await?;
        let mut tx = self.store.begin().await?;
        let Some(plan_id) = self.store.delete_agent_seat(&mut tx, seat_id).await? else {
            return Err(CsmError::not_found("agent seat", seat_id));
        };
        let plan = self
            .store
            .record_in::<SeatPlan>(&mut tx, plan_id)
            .await?
            .ok_or_else(|| CsmError::not_found(SeatPlan::KIND, plan_id))?;
        let change = NewChange::new("agent_seat", seat_id, Operation::Deleted).attribute("seat_plan_id", plan_id);
        let revision = self.commit(tx, &change).await?;
        Ok((plan, self.feed.token(revision)))
    }

    pub async fn list_agent_seats(
        &self,
        caller: &Caller,
        plan_id: Option<Uuid>,
        profile_id: Option<Uuid>,
        kind: Option<SeatKind>,
        page: &PageRequest,
    ) -> CsmResult<(Vec<AgentSeat>, String)> {
        self.require_admin(caller, "ListAgentSeats").await?;
        let after = parse_id_token(page)?;
        let rows = self.store.list_agent_seats(plan_id, profile_id, kind, after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |seat| seat.id.to_string()))
    }

    /// hasAgentLicense (R7.9, R7.11, R7.13, R4.21).
    pub async fn has_agent_license(
        &self,
        caller: &Caller,
        profile_id: Uuid,
        product: LicensedProduct,
    ) -> CsmResult<AgentLicense> {
        let person = self.person(profile_id).await?;
        self.require_self_or_admin(caller, person.login_id, Some(profile_id), "HasAgentLicense").await?;
        let Some(plan) = self.store.plan_for_product(product).await? else {
            return Ok(AgentLicense {
                status: AgentLicenseStatus::NoSeatPlan,
                seat_plan_id: None,
                agent_seat_id: None,
            });
        };
        let seat = self.store.agent_seat_for(plan.id, profile_id).await?;
        let status = agent_seats::agent_license_status(
            true,
            seat.as_ref().map(|seat| seat.kind),
            person.kind == PrincipalKind::Customer,
            plan.license_valid(csm_db::now()),
            plan.overrun(),
        );
        Ok(AgentLicense { status, seat_plan_id: Some(plan.id), agent_seat_id: seat.map(|seat| seat.id) })
    }
}
