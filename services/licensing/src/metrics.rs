//! licensing's metrics (docs/metrics.md): seats in use against capacity per
//! pool and per agent-seat plan (read from the database at each scrape) and
//! denials by reason (counted as they happen).

use csm_telemetry::metrics::ServiceMetrics;
use csm_telemetry::metrics::prometheus_client::metrics::counter::Counter;
use csm_telemetry::metrics::prometheus_client::metrics::family::Family;
use csm_telemetry::metrics::prometheus_client::metrics::gauge::Gauge;

use crate::domain::agent_seats::LicensedProduct;
use crate::domain::usage::DenialReason;
use crate::store::LicensingStore;

/// Pools (and plans) read per scrape: far above any real installation.
const SCRAPE_LIMIT: i64 = 10_000;

type ReasonLabels = [(&'static str, &'static str); 1];
type PoolLabels = [(&'static str, String); 3];
type PlanLabels = [(&'static str, &'static str); 2];

/// The label value of a denial reason (the ErrorInfo reason of the refusal).
pub fn reason_label(reason: DenialReason) -> &'static str {
    match reason {
        DenialReason::LicensePoolExhausted => "LICENSE_POOL_EXHAUSTED",
        DenialReason::LicenseRightMissing => "LICENSE_RIGHT_MISSING",
        DenialReason::LicenseKeyExpired => "LICENSE_KEY_EXPIRED",
        DenialReason::AgentSeatsExhausted => "AGENT_SEATS_EXHAUSTED",
    }
}

fn product_label(product: LicensedProduct) -> &'static str {
    match product {
        LicensedProduct::JiraServiceManagement => "JIRA_SERVICE_MANAGEMENT",
        LicensedProduct::Jira => "JIRA",
        LicensedProduct::ServicenowCsm => "SERVICENOW_CSM",
    }
}

/// The counters licensing updates itself.
#[derive(Clone, Debug, Default)]
pub struct LicensingMetrics {
    denials: Family<ReasonLabels, Counter>,
}

impl LicensingMetrics {
    /// Registers licensing's metrics in the service being started
    /// ([`ServiceMetrics::current`]); outside a service they are kept but not exposed.
    pub fn register(store: &LicensingStore) -> Self {
        let this = Self::default();
        let Some(metrics) = ServiceMetrics::current() else { return this };
        for reason in DenialReason::ALL {
            // Every reason shows from the start (0), so rates work before the first denial.
            let _ = this.denials.get_or_create(&[("reason", reason_label(reason))]);
        }
        metrics.register("csm_license_denials", "Licence seats refused, by reason.", this.denials.clone());

        let pools = Family::<PoolLabels, Gauge>::default();
        metrics.register(
            "csm_license_pool_seats",
            "Seats of each concurrent licence pool: state=\"in_use\" (held now) or \"capacity\" (seat_count).",
            pools.clone(),
        );
        let plans = Family::<PlanLabels, Gauge>::default();
        metrics.register(
            "csm_license_seat_plan_seats",
            "Named agent seats of each seat plan: state=\"in_use\" or \"capacity\" (seat_limit).",
            plans.clone(),
        );
        let store = store.clone();
        metrics.before_scrape(move || {
            let (store, pools, plans) = (store.clone(), pools.clone(), plans.clone());
            async move {
                if let Ok(rows) = store.list_pools(None, SCRAPE_LIMIT).await {
                    // Rebuilt each time: a renamed or deleted pool leaves no stale series.
                    pools.clear();
                    for row in rows {
                        let labels = |state: &'static str| -> PoolLabels {
                            [
                                ("pool_id", row.id.to_string()),
                                ("pool", row.settings.name.clone()),
                                ("state", state.into()),
                            ]
                        };
                        pools.get_or_create(&labels("in_use")).set(row.seats_used);
                        pools.get_or_create(&labels("capacity")).set(row.settings.seat_count);
                    }
                }
                if let Ok(rows) = store.list_plans(None, SCRAPE_LIMIT).await {
                    plans.clear();
                    for row in rows {
                        let product = product_label(row.product);
                        plans.get_or_create(&[("product", product), ("state", "in_use")]).set(row.seats_used);
                        plans.get_or_create(&[("product", product), ("state", "capacity")]).set(row.seat_limit);
                    }
                }
            }
        });
        this
    }

    pub fn denied(&self, reason: DenialReason) {
        self.denials.get_or_create(&[("reason", reason_label(reason))]).inc();
    }
}
